"""safeworkers.facts.appfiles: the workers' textual pre-check never hides what the scan finds.

``may_show`` answers ``False`` only where ``appscan.scan`` cannot find a patching call or
a green library asked for: checked on every module of the scan's own fixtures, and on
trees where the word sits only where an import, a relative import, a string, Django's
settings or ``DJANGO_SETTINGS_MODULE`` leads.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

import pytest

from safeworkers.facts import _source, appfiles, appscan

TREES = Path(__file__).resolve().parents[2] / "fixtures" / "appscan"
BOTH = appfiles.PATCH_WORDS + appfiles.ASK_WORDS


def modules_of(tree: Path) -> list[str]:
    """Every module and package under ``tree``, by its dotted name."""
    found = []
    for path in sorted(tree.rglob("*.py")):
        parts = list(path.relative_to(tree).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            found.append(".".join(parts))
    return found


#: The source trees (an import root each): the scan's fixtures (selfpatch/ holds two), and
#: the apps the suite and the examples serve (Flask-SocketIO, self-patching apps, ...).
REPOSITORY = TREES.parents[2]
ROOTS = [
    *sorted(p for p in TREES.iterdir() if p.is_dir() and p.name != "selfpatch"),
    *sorted(p for p in (TREES / "selfpatch").iterdir() if p.is_dir()),
    REPOSITORY / "tests" / "apps",
    REPOSITORY / "examples" / "apps",
]
CASES = [
    (root.relative_to(REPOSITORY).as_posix(), module)
    for root in ROOTS
    for module in modules_of(root)
]


@pytest.mark.parametrize(("tree", "module"), CASES)
def test_what_the_scan_finds_the_pre_check_sees(tree: str, module: str) -> None:
    path = [str(REPOSITORY / tree)]
    environ: dict[str, str] = {}
    found = appscan.scan(module, path, libraries=frozenset(), environ=environ)
    patches = appfiles.may_show(
        module, path, appfiles.PATCH_WORDS, libraries=frozenset(), environ=environ
    )
    asks = appfiles.may_show(
        module, path, appfiles.ASK_WORDS, libraries=frozenset(), environ=environ
    )
    assert patches or not found.patches, found.patches
    assert asks or not found.asks, found.asks


def test_the_fixtures_hold_both_kinds() -> None:
    """The soundness test above sees patching and asking apps, not only plain ones."""
    path = [str(TREES / "selfpatch" / "gevent_forms")]
    assert appfiles.may_show("a", path, appfiles.PATCH_WORDS, libraries=frozenset())
    asks = [str(TREES / "asks")]
    assert appfiles.may_show("socketio_app", asks, appfiles.ASK_WORDS, libraries=frozenset())
    assert appfiles.may_show("ws_app", asks, appfiles.ASK_WORDS, libraries=frozenset())


def test_a_plain_app_is_cleared_without_the_scan() -> None:
    for tree, module in (("plain", "nothing"), ("submodule", "myapp.main"), ("dynamic", "app")):
        path = [str(TREES / tree)]
        assert not appfiles.may_show(module, path, BOTH, libraries=frozenset()), module


def write(root: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return [str(root)]


def test_a_file_no_import_reaches_is_not_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"app.py": "import os\napp = None\n", "unused.py": "s = SocketIO(async_mode='gevent')\n"},
    )
    assert not appfiles.may_show("app", path, BOTH, libraries=frozenset())
    (tmp_path / "app.py").write_text("import unused\napp = None\n")
    assert appfiles.may_show("app", path, BOTH, libraries=frozenset())


@pytest.mark.parametrize(
    ("files", "module"),
    [
        # A relative import spells only the last part.
        (
            {
                "site/__init__.py": "",
                "site/app.py": "from .live import sock\n",
                "site/live.py": "from flask_sockets import Sockets\n",
            },
            "site.app",
        ),
        # From a package's __init__, two levels down.
        (
            {
                "pkg/__init__.py": "from .sub import deep\n",
                "pkg/sub/__init__.py": "",
                "pkg/sub/deep.py": "from gevent import monkey\nmonkey.patch_all()\n",
                "pkg/app.py": "app = None\n",
            },
            "pkg.app",
        ),
        # A string importlib imports.
        (
            {
                "app.py": "import importlib\nimportlib.import_module('plugins.ws')\n",
                "plugins/__init__.py": "",
                "plugins/ws.py": "import geventwebsocket\n",
            },
            "app",
        ),
        # Django: INSTALLED_APPS names the app; Django imports its admin module.
        (
            {
                "mysite/__init__.py": "",
                "mysite/wsgi.py": "import os\n"
                "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
                "mysite/settings.py": "INSTALLED_APPS = ['chat']\n",
                "chat/__init__.py": "",
                "chat/admin.py": "import eventlet.websocket\n",
            },
            "mysite.wsgi",
        ),
    ],
    ids=["relative", "package-init", "import-module-string", "django-installed-app"],
)
def test_every_way_the_scan_follows_leads_the_pre_check_too(
    tmp_path: Path, files: dict[str, str], module: str
) -> None:
    path = write(tmp_path, files)
    found = appscan.scan(module, path, libraries=frozenset(), environ={})
    assert found.patches or found.asks  # the scan follows it...
    assert appfiles.may_show(
        module, path, BOTH, libraries=frozenset(), environ={}
    )  # ...so does this


def test_django_settings_module_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/wsgi.py": "application = None\n",
            "conf/__init__.py": "",
            "conf/live.py": "SOCKETIO = dict(async_mode='eventlet')\n",
        },
    )
    assert not appfiles.may_show("proj.wsgi", path, BOTH, libraries=frozenset(), environ={})
    environ = {"DJANGO_SETTINGS_MODULE": "conf.live"}
    assert appfiles.may_show("proj.wsgi", path, BOTH, libraries=frozenset(), environ=environ)


def test_in_a_library_directory_only_the_apps_own_package_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "shop/__init__.py": "import other\n",
            "other/__init__.py": "import grequests\n",
        },
    )
    root = frozenset({str(tmp_path)})
    assert not appfiles.may_show("shop", path, BOTH, libraries=root)
    assert not appscan.scan("shop", path, libraries=root).patches
    assert appfiles.may_show("shop", path, BOTH, libraries=frozenset())


def test_too_many_files_to_tell_is_a_maybe(tmp_path: Path) -> None:
    files = {f"m{i}.py": f"import m{i + 1}\n" for i in range(5)}
    path = write(tmp_path, files)
    assert not appfiles.may_show("m0", path, BOTH, libraries=frozenset())
    assert appfiles.may_show("m0", path, BOTH, libraries=frozenset(), max_files=3)


def test_no_source_shows_nothing() -> None:
    assert not appfiles.may_show("no_such_module_here", [str(TREES / "plain")], BOTH)
    assert not appscan.scan("no_such_module_here", [str(TREES / "plain")]).found


def test_the_words_cover_the_scans_tables() -> None:
    """A new self-patching or asking module in _source's tables needs its word here."""
    for name in _source.SELF_PATCHING_MODULES:
        assert any(word in name for word in appfiles.PATCH_WORDS), name
    for name in _source.ASKING_MODULES:
        assert any(word in name for word in appfiles.ASK_WORDS), name
    assert "async_mode" in appfiles.ASK_WORDS


def test_library_directories_are_told_apart_without_sysconfig_where_they_cannot_be(
    tmp_path: Path,
) -> None:
    """Outside the interpreter's prefixes no library directory lies: the answer there is
    the same as with sysconfig's paths read."""
    library = appfiles.library_dirs()
    candidates = [
        *sys.path,
        str(tmp_path),
        str(TREES),
        sysconfig.get_paths()["stdlib"],
        *site.getsitepackages(),
        os.getcwd(),
    ]
    for directory in filter(os.path.isdir, candidates):
        real = os.path.realpath(directory)
        expected = real in library or os.path.basename(real) in ("site-packages", "dist-packages")
        assert appfiles.is_library_dir(directory) == expected, directory
    assert not appfiles.is_library_dir(str(tmp_path))
