"""The embedded periodic runner: beat's schedule as jobs, and one process per database."""

import subprocess
import sys
import textwrap

from chargenet import periodic
from chargenet.celery import app
from tests.live.conftest import ROOT, child_env


def test_every_beat_entry_becomes_a_job_with_a_known_task(settings):
    settings.CHARGENET_PERIODIC_INTERVAL_S = 2
    app.loader.import_default_modules()
    jobs = {job.name: job for job in periodic.jobs()}
    assert set(jobs) == set(settings.CELERY_BEAT_SCHEDULE)
    assert all(job.task in app.tasks for job in jobs.values())
    assert jobs["firmware-campaigns"].schedule.run_every.total_seconds() == 2  # shortened
    assert jobs["monthly-invoicing"].schedule is settings.CELERY_BEAT_SCHEDULE["monthly-invoicing"]["schedule"]


def test_runner_is_off_in_tests_and_with_redis(settings):
    assert not periodic.enabled()
    settings.REDIS_URL = ""  # embedded (CI runs the suite with Redis too)
    settings.CHARGENET_PERIODIC_JOBS = True
    assert periodic.enabled()
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert not periodic.enabled()


def test_a_second_process_on_the_same_database_does_not_run_the_jobs(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import django, sys
            django.setup()
            from chargenet import periodic
            print(periodic.take_lock(), flush=True)
            sys.stdin.read()
        """)],
        cwd=ROOT, env=child_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        second = subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); from chargenet import periodic; "
                                   "print(periodic.take_lock())"],
            cwd=ROOT, env=child_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"), capture_output=True,
            text=True, timeout=60,
        )
        assert second.stdout.strip() == "False", second.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    after = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from chargenet import periodic; "
                               "print(periodic.take_lock())"],
        cwd=ROOT, env=child_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"), capture_output=True,
        text=True, timeout=60,
    )
    assert after.stdout.strip() == "True"  # the holder is gone: another process takes over
