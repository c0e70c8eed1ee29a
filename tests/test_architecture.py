"""The layers point one way (STYLE.md): the gateway on top calls the domain apps; the domain
apps never import it; stations, at the bottom, imports none of the apps above it; and no
module takes part in an import cycle (lazy imports inside functions count too)."""

import grimp
import pytest

APPS = ["gateway", "portal", "roaming", "billing", "pki", "stations", "chargenet"]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*APPS, include_external_packages=False)


def _imports_between(graph, importer: str, imported: str) -> list[str]:
    found = graph.find_matching_direct_imports(import_expression=f"{importer}.** -> {imported}.**")
    return sorted(f"{i['importer']} -> {i['imported']}" for i in found)


@pytest.mark.parametrize("domain_app", ["stations", "billing", "pki", "roaming", "portal"])
def test_no_domain_app_imports_the_gateway(graph, domain_app):
    assert _imports_between(graph, domain_app, "gateway") == []


@pytest.mark.parametrize("upper_app", ["billing", "pki", "roaming", "portal"])
def test_stations_imports_no_app_above_it(graph, upper_app):
    assert _imports_between(graph, "stations", upper_app) == []


@pytest.mark.parametrize("package", ["gateway", "stations", "billing", "pki", "portal", "chargenet"])
def test_no_import_cycles_inside(graph, package):
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith(package) and imported != module and graph.chain_exists(
                importer=imported, imported=module
            ):
                cycles.append(f"{module} -> {imported} -> ... -> {module}")
    assert cycles == []
