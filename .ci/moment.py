"""The moment at which CI runs the suite once more, as if it began then (KAPFLOW_TEST_AT,
docs/testing.md): one within the year after the commit's own time, chosen by the commit's hash.
Each commit is tried at another day of the year and hour of the day, so that, commit after
commit, midnight in the practice's time zone, the changes of summer time and the turn of the
year all come round; and a failure can be run again at the very same moment."""

import datetime
import shutil
import subprocess

YEAR = datetime.timedelta(days=366)


def moment_for(commit: str, committed: datetime.datetime) -> datetime.datetime:
    offset = int(commit[:12], 16) % int(YEAR.total_seconds())
    return committed + datetime.timedelta(seconds=offset)


if __name__ == "__main__":
    git = shutil.which("git") or "git"
    commit, stamp = subprocess.run(  # noqa: S603 (our own list)
        [git, "log", "-1", "--format=%H %ct"], check=True, capture_output=True, text=True
    ).stdout.split()
    committed = datetime.datetime.fromtimestamp(int(stamp), datetime.UTC)
    print(moment_for(commit, committed).isoformat())
