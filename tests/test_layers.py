"""The layer rules of ARCHITECTURE.md, checked by machine."""

import os
import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys
    BLOCKED = {"PySide6", "shiboken6", "torch", "diffusers", "transformers", "peft", "cv2",
               "dlib", "insightface", "onnxruntime", "av"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    assert lint_imports(no_cache=True) == 0


def test_core_project_services_jobs_cli_import_without_qt_or_torch():
    done = _python(
        """
        import importlib, pkgutil
        import studio.core, studio.project, studio.services, studio.jobs
        names = []
        for pkg in (studio.core, studio.project, studio.services, studio.jobs):
            for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                importlib.import_module(m.name)
                names.append(m.name)
        import studio.cli
        print(len(names))
        """
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 15


def test_cli_start_and_check_load_no_heavy_library(tmp_path):
    from studio.services.projects import new_project

    p = tmp_path / "p.pstudio"
    new_project(p, "Ada").close()
    done = _python(
        """
        import sys
        from studio.__main__ import main
        try:
            main(["--version"])
        except SystemExit:
            pass
        assert main(["check", sys.argv[1]]) == 0
        assert main(["persona", "show", sys.argv[1], "Ada", "--json"]) == 0
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                       ("torch", "diffusers", "PySide6", "PIL", "cv2", "numpy"))
        print("HEAVY", heavy)
        """,
        str(p),
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_window_module_does_not_load_torch():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import studio.ui.app, studio.ui.main_window;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch','diffusers')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
