"""The layers point one way: read every module's imports and check who may import whom."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CAPABILITIES = ("keys", "signals", "mapping", "activities", "flows", "outbound", "ops", "devserver")
WEB_MODULES = ("ingress", "api", "views")
PURE_MODULES = (
    "hookyard.core.clock",
    "hookyard.core.credentials",
    "hookyard.signals.fields",
    "hookyard.mapping.rules",
    "hookyard.flows.sources",
    "hookyard.flows.signatures",
    "hookyard.outbound.signing",
    "hookyard.outbound.url_safety",
    "hookyard.outbound.event_types",
    "hookyard.outbound.type_schemas",
)
FRAMEWORK = ("flask", "werkzeug", "peewee", "playhouse", "redis", "rq", "gevent", "models", "app", "schemas")


def module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imports_of(path: pathlib.Path) -> set[str]:
    """Return every module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for path in sorted((ROOT / "hookyard").rglob("*.py"))}
TOP = {name: imports_of(ROOT / f"{name}.py") for name in ("app", "worker", "models", "schemas")}


def capability_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in CAPABILITIES else None


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.startswith("hookyard.core")))
def test_core_knows_no_capability(module):
    assert {name for name in MODULES[module] if capability_of(name)} == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_in_the_package_imports_the_app_or_the_worker_process(module):
    assert MODULES[module] & {"app", "worker"} == set()


@pytest.mark.parametrize("module", sorted(name for name in MODULES if capability_of(name)))
def test_a_capability_never_imports_another_capabilitys_web_modules(module):
    borrowed = {
        name
        for name in MODULES[module]
        if capability_of(name) not in (None, capability_of(module)) and name.split(".")[2] in WEB_MODULES
    }
    assert borrowed == set()


@pytest.mark.parametrize("module", PURE_MODULES)
def test_a_pure_module_imports_no_framework_and_no_table(module):
    assert {name for name in MODULES[module] if name.split(".")[0] in FRAMEWORK} == set()


def test_schemas_import_no_capability():
    assert {name for name in TOP["schemas"] if capability_of(name)} == set()


def test_models_imports_only_the_capabilities_tables():
    assert {name.split(".")[2] for name in TOP["models"] if capability_of(name)} == {"tables"}


TABLES = sorted(name for name in MODULES if name.endswith(".tables"))


@pytest.mark.parametrize("module", TABLES)
def test_a_tables_module_imports_only_the_core_and_the_organization(module):
    allowed = {"hookyard.keys.tables", "hookyard.keys.tables.Organization"}
    assert {name for name in MODULES[module] if capability_of(name)} <= allowed


@pytest.mark.parametrize("module", sorted(set(MODULES) - set(TABLES)))
def test_the_rest_imports_tables_from_models_alone(module):
    assert {name for name in MODULES[module] if name.endswith(".tables") or ".tables." in name} == set()


def test_schemas_do_not_import_the_tables():
    assert "models" not in TOP["schemas"]


def test_importing_the_models_loads_no_gevent():
    program = "import sys, models; print('gevent' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
