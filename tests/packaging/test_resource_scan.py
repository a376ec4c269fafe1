"""The spec bundles every resource the code loads; the scan that proves it finds every form of reference."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import bundle_config as cfg
import pytest

from dit360_desktop.selftest.resource_scan import (
    ResourceRef,
    build_manifest,
    find_problems,
    scan_package,
)


def _bundled_destination(source: Path, datas: list[tuple[str, str]]) -> str | None:
    """Where the spec's datas put ``source`` inside the bundle, or None if nothing collects it."""
    for src, dest in datas:
        src_path = Path(src)
        if source == src_path:
            return f"{dest}/{source.name}"
        if src_path.is_dir() and source.is_relative_to(src_path):
            return f"{dest}/{source.relative_to(src_path).as_posix()}"
    return None


def test_spec_datas_bundle_every_resource_the_code_loads() -> None:
    refs = scan_package(cfg.PACKAGE_DIR)
    datas = cfg.resource_datas() + cfg.package_datas()
    assert refs, "the scan found no resource references in the app at all"
    for ref in refs:
        source = cfg.RESOURCES_DIR / ref.path
        assert source.exists(), f"{ref.source} loads resources/{ref.path}, which is not in the checkout"
        destination = _bundled_destination(source, datas)
        assert destination == f"resources/{ref.path}", f"{ref.source}: resources/{ref.path} -> {destination}"


def test_spec_bundles_every_file_under_resources() -> None:
    datas = cfg.resource_datas()
    for file in cfg.RESOURCES_DIR.rglob("*"):
        if file.is_file():
            relative = file.relative_to(cfg.RESOURCES_DIR).as_posix()
            assert _bundled_destination(file, datas) == f"resources/{relative}"


def test_spec_takes_its_data_lists_and_manifest_from_bundle_config() -> None:
    spec = (cfg.REPO_ROOT / "packaging" / "dit360.spec").read_text()
    for needle in (
        "cfg.resource_datas(resources_snapshot)",
        "cfg.package_datas()",
        "MANIFEST_NAME",
        "should_drop",
    ):
        assert needle in spec


def test_real_code_references_the_viewer_shaders_and_catalog() -> None:
    paths = {ref.path for ref in scan_package(cfg.PACKAGE_DIR) if not ref.dynamic}
    assert "catalog.json" in paths
    assert any(path.startswith("shaders/") for path in paths), sorted(paths)


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_scan_recognises_every_reference_form(tmp_path: Path) -> None:
    package = tmp_path / "app"
    _write(package, "__init__.py", "")
    _write(
        package,
        "loaders.py",
        '''
        """Docstrings that mention resources/not_a_file.txt are not references."""
        from app import paths
        from app.paths import resource, resources_dir

        CATALOG = resource("catalog.json")
        STYLE = paths.resource("style", "app.qss")
        VERT = resources_dir() / "shaders" / "a.vert"
        FRAG = resources_dir().joinpath("shaders/b.frag")
        LITERAL = "resources/configs/flux.json"

        def shader(name):
            return resource("shaders", name)

        def icon(name):
            return paths.resource("icons", f"{name}.svg")

        VIEW = shader("view.frag")
        ''',
    )
    _write(
        package,
        "ui/panel.py",
        """
        from ..loaders import icon
        from app import loaders

        def build(locked):
            icon("lock" if locked else "unlock")
            loaders.shader(name="c.frag")
        """,
    )
    refs = scan_package(package)
    static = {ref.path for ref in refs if not ref.dynamic}
    dynamic = {ref.path for ref in refs if ref.dynamic}
    assert static == {
        "catalog.json",
        "style/app.qss",
        "shaders/a.vert",
        "shaders/b.frag",
        "shaders/c.frag",
        "shaders/view.frag",
        "configs/flux.json",
        "icons/lock.svg",
        "icons/unlock.svg",
    }
    assert dynamic == {"shaders", "icons"}
    assert ResourceRef("icons/lock.svg", False, "app/ui/panel.py:6") in refs


@pytest.fixture
def resources_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "resources"
    shutil.copytree(cfg.RESOURCES_DIR, copy)
    return copy


def test_find_problems_is_empty_for_an_intact_tree(resources_copy: Path) -> None:
    manifest = build_manifest(cfg.PACKAGE_DIR, cfg.RESOURCES_DIR)
    assert find_problems(manifest, resources_copy) == []


def test_find_problems_names_a_removed_shader(resources_copy: Path) -> None:
    manifest = build_manifest(cfg.PACKAGE_DIR, cfg.RESOURCES_DIR)
    shader = next(ref.path for ref in scan_package(cfg.PACKAGE_DIR) if ref.path.startswith("shaders/"))
    (resources_copy / shader).unlink()
    problems = find_problems(manifest, resources_copy)
    assert any(f"missing resource {shader}" in problem for problem in problems), problems
    assert any(f"missing bundled file resources/{shader}" in problem for problem in problems), problems


def test_find_problems_names_a_changed_file_and_an_emptied_folder(resources_copy: Path) -> None:
    manifest = build_manifest(cfg.PACKAGE_DIR, cfg.RESOURCES_DIR)
    (resources_copy / "catalog.json").write_text("{}")
    shutil.rmtree(resources_copy / "icons")
    (resources_copy / "icons").mkdir()
    problems = find_problems(manifest, resources_copy)
    assert "bundled file resources/catalog.json differs from the build's copy" in problems
    assert any(problem.startswith("missing resource folder icons/") for problem in problems), problems
