"""Fetch the EXI codec: ``python -m pki.iso15118.fetch_codec [DEST]`` (``make install`` runs it).

The codec is EXIficient with the ISO 15118-2/-20, DIN 70121 and xmldsig grammars built in
(Siemens, Apache-2.0), shipped as ``EXICodec.jar`` inside the ``iso15118`` wheel on PyPI
(EcoG, Apache-2.0). We take only the jar from the pinned wheel, checked against its hash;
installing the package itself would pin cryptography and pydantic to old releases. It runs
on a Java 11+ runtime; Python talks to it through py4j.
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "iso15118==0.31.2"
MEMBER = "iso15118/shared/EXICodec.jar"
JAR_SHA256 = "fa12153a7aa2f625d424d1a3794a5c81e83747ae3ddb6fe1963569840ad126bc"
DEFAULT_DEST = Path(sys.prefix) / "share" / "exi" / "EXICodec.jar"


def is_present(dest: Path) -> bool:
    return dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == JAR_SHA256


def fetch(dest: Path = DEFAULT_DEST) -> Path:
    if is_present(dest):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("iso15118-*.whl"))
        data = zipfile.ZipFile(wheel).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != JAR_SHA256:
        raise SystemExit(f"EXICodec.jar from {WHEEL} has sha256 {digest}, expected {JAR_SHA256}: not installed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(dest)
    return dest


if __name__ == "__main__":
    target = fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST)
    print(f"EXI codec: {target}")
