"""The engine's shape: one face, arrows that point one way, and a command that imports only what it uses."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import imagegen

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "imagegen"
#: the command line calls the face as the pages do
COMMAND_LINE = ("cli.py", "commands.py", "board_commands.py", "run_commands.py")
#: what a command that draws no figures, or `--help`, must never load
HEAVY = ("pandas", "numpy", "pyarrow", "sqlalchemy", "PIL", "openai", "boto3")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def loaded_at_import(path: Path) -> set[str]:
    """The imagegen modules a module imports when it is imported: its top-level imports, not those inside
    functions (made where they are used) or under TYPE_CHECKING (for a reader and a type checker)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("imagegen")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            if base.startswith("imagegen"):
                modules = {alias.name for alias in node.names if (ENGINE / f"{alias.name}.py").exists()}
                found |= {f"{base}.{name}" for name in modules}
                if len(modules) < len(node.names):  # names from the module itself, not only its submodules
                    found.add(base)
    return found


def engine_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in ENGINE.rglob("*.py")}
    return {name: {dep for dep in loaded_at_import(path) if dep in modules} for name, path in modules.items()}


def test_the_engine_has_no_import_cycle():
    graph = engine_graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in trail, " -> ".join([*trail, name])
        if name in done:
            return
        for dep in sorted(graph[name] - {"imagegen"}):
            visit(dep, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_only_the_face_imports_the_studio_and_nothing_imports_the_face_but_its_callers():
    importers = {name for name, deps in engine_graph().items() if "imagegen.studio" in deps}
    assert importers == set()  # the face itself loads it when it is first asked for
    for path in ENGINE.rglob("*.py"):
        text = path.read_text()
        assert "imagegen.studio" not in text or path.name == "__init__.py", path
    for name, deps in engine_graph().items():
        if name not in ("imagegen", "imagegen.__main__", *(f"imagegen.{n.removesuffix('.py')}" for n in COMMAND_LINE)):
            assert "imagegen" not in deps, f"{name} imports the face"


def test_pages_ui_and_the_command_line_import_the_face_only():
    callers = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]
    callers += [ENGINE / name for name in COMMAND_LINE]
    for path in callers:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imagegen."):
                raise AssertionError(f"{path.name} imports {node.module}: use the face, `from imagegen import ...`")
            if isinstance(node, ast.Attribute) and node.attr == "_engine":
                raise AssertionError(f"{path.name} reaches into the studio's engine")


def test_every_public_name_resolves_and_none_is_shadowed_by_a_module():
    submodules = {module.name for module in pkgutil.iter_modules(imagegen.__path__)}
    assert not submodules & set(imagegen.__all__)  # `from imagegen import x` must not give a module
    assert sorted(imagegen.__all__) == sorted(imagegen._HOMES)
    for name in imagegen.__all__:
        assert getattr(imagegen, name) is not None


def loaded_by(*argv: str, env: dict[str, str]) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['imagegen', *{list(argv)!r}]\n"
        "try:\n    runpy.run_module('imagegen', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('LOADED', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED"))
    return set(line.split()[1:])


def test_help_and_a_command_without_figures_load_only_what_they_use(data_dir):
    env = {"PATH": "/usr/bin:/bin", "IMAGEGEN_DATA_DIR": str(data_dir), "HOME": str(data_dir)}
    assert not loaded_by("--help", env=env) & set(HEAVY)
    assert not loaded_by("models", env=env) & {"pandas", "numpy", "pyarrow", "sqlalchemy", "openai", "boto3"}
    quota = loaded_by("quota", env=env)
    assert "sqlalchemy" in quota and not quota & {"pandas", "numpy", "pyarrow"}
    assert {"pandas"} <= loaded_by("usage", env=env)  # the figures, where they are drawn
