"""Build the distributions and check them as an index and a user would.

`make dist` runs this (and so `make test`); the release workflow runs it before it
publishes what it built (.github/workflows/release.yml).

1. ``uv build``: the sdist, then the wheel built from the sdist (so the sdist is whole);
2. ``twine check --strict``: the metadata an index renders (the README as the long
   description);
3. the wheel's contents: every file of src/safeworkers (modules, templates, the typing
   marker), the start-up hook ``safeworkers_guard.pth`` at the top of site-packages, the
   entry points (the ``safeworkers`` command, the pytest plugin), and nothing else;
4. the wheel installed in a throwaway virtualenv (uv): the package imports from there,
   the ``.pth`` hook installs the guard at start-up when asked and says nothing when not,
   ``safeworkers --help`` runs.

    python .ci/check_dist.py [--out DIR] [--tag vX.Y.Z]

``--out``: where the distributions go (default ``dist``, emptied first); ``--tag``: the
release tag, which must name the package's version.
"""

from __future__ import annotations

import argparse
import configparser
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "safeworkers"
HOOK = "safeworkers_guard.pth"
ENTRY_POINTS = {
    "console_scripts": {"safeworkers": "safeworkers.cli:main"},
    "pytest11": {"safeworkers": "safeworkers.pytest_plugin"},
}


def fail(message: str) -> SystemExit:
    return SystemExit(f"check_dist: {message}")


def tool(name: str) -> str:
    """``name`` beside this interpreter (the dev venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise fail(f"{name} is not installed (pip install {name}; the dev extra has it)")
    return found


def run(*argv: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise fail(
            f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout + done.stderr


def version() -> str:
    namespace: dict[str, str] = {}
    exec((SOURCE / "_version.py").read_text(), namespace)
    return namespace["__version__"]


def expected_files() -> set[str]:
    """What the wheel must hold of the package: every file but compiled ones."""
    return {
        f"safeworkers/{path.relative_to(SOURCE).as_posix()}"
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def check_wheel(wheel: Path, release: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"safeworkers-{release}.dist-info"
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
    package = {n for n in names if n.startswith("safeworkers/")}
    missing = expected_files() - package
    if missing:
        raise fail(f"{wheel.name} lacks {', '.join(sorted(missing))}")
    if HOOK not in names:
        raise fail(f"{wheel.name} lacks the start-up hook {HOOK} at its top")
    metadata = {n for n in names if n.startswith(f"{info}/")}
    unexpected = names - metadata - {HOOK} - expected_files()
    if unexpected:
        raise fail(f"{wheel.name} holds files it should not: {sorted(unexpected)}")
    for group, wanted in ENTRY_POINTS.items():
        found = dict(entry_points[group]) if entry_points.has_section(group) else {}
        if found != wanted:
            raise fail(f"{wheel.name}: entry points [{group}] are {found}, not {wanted}")


def check_sdist(sdist: Path) -> None:
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    needed = [
        "pyproject.toml",
        "README.md",
        "LICENSE",
        f"src/{HOOK}",
        "src/safeworkers/__init__.py",
    ]
    missing = [name for name in needed if f"{top}/{name}" not in names]
    if missing:
        raise fail(f"{sdist.name} lacks {', '.join(missing)}")


def check_installed(wheel: Path, work: Path) -> None:
    """Install the wheel where nothing else is and use it as a user would."""
    uv = tool("uv")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    env = {k: v for k, v in env.items() if not k.startswith("SAFEWORKERS_") and k != "PYTHONPATH"}
    venv = work / "venv"
    run(uv, "venv", "-q", "--python", sys.executable, venv, env=env)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "-q", "--python", python, wheel, env=env)
    where = run(
        python,
        "-c",
        "import safeworkers, safeworkers.cli, safeworkers.gunicorn_config; "
        "print(safeworkers.__version__, safeworkers.__file__)",
        env=env,
        cwd=work,
    ).split()
    if where[0] != version() or not Path(where[1]).is_relative_to(venv):
        raise fail(f"the installed wheel imports as {where}, not {version()} from {venv}")
    hooks = list(venv.glob(f"lib/python*/site-packages/{HOOK}"))
    if len(hooks) != 1:
        raise fail(f"{HOOK} is not at the top of the venv's site-packages: {hooks}")
    quiet = run(python, "-c", "pass", env=env, cwd=work)
    if quiet:
        raise fail(f"the interpreter says something at start-up with the hook installed: {quiet}")
    guarded = run(
        python,
        "-c",
        "import safeworkers.guard as g; print(g.installed())",
        env={**env, "SAFEWORKERS_GUARD_PROCESS": "1"},
        cwd=work,
    )
    if guarded.strip() != "True":
        raise fail(f"SAFEWORKERS_GUARD_PROCESS=1 did not install the guard at start-up: {guarded}")
    usage = run(venv / "bin" / "safeworkers", "--help", env=env, cwd=work)
    if "usage: safeworkers" not in usage:
        raise fail(f"safeworkers --help printed no usage:\n{usage}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="dist", type=Path)
    parser.add_argument("--tag", help="the release tag: it must be v + the package's version")
    args = parser.parse_args()
    release = version()
    if args.tag is not None and args.tag != f"v{release}":
        raise fail(
            f"tag {args.tag!r} does not name version {release} (src/safeworkers/_version.py)"
        )
    out = args.out if args.out.is_absolute() else ROOT / args.out
    shutil.rmtree(out, ignore_errors=True)
    run(
        tool("uv"),
        "build",
        "-q",
        "--out-dir",
        out,
        ROOT,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    if [w.name for w in wheels] != [f"safeworkers-{release}-py3-none-any.whl"] or len(sdists) != 1:
        raise fail(f"expected one wheel and one sdist of {release} in {out}: {wheels + sdists}")
    run(tool("twine"), "check", "--strict", *wheels, *sdists)
    check_wheel(wheels[0], release)
    check_sdist(sdists[0])
    with tempfile.TemporaryDirectory(prefix="safeworkers-dist-") as work:
        check_installed(wheels[0], Path(work))
    print(f"check_dist: {wheels[0].name} and {sdists[0].name} in {out}: built and checked")


if __name__ == "__main__":
    main()
