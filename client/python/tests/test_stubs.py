"""The type stubs name what the extension has: each public method or property of the
classes, in both flavours, with the same parameter names, so that an editor completes what
exists (a call added to the extension and forgotten in a stub fails here)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import vigil
import vigil.aio

PACKAGE = Path(vigil.__file__).parent


def stub_classes(name: str) -> dict:
    tree = ast.parse((PACKAGE / name).read_text())
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {}
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = item.args
                    params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs][1:]
                    methods.setdefault(item.name, params)
            classes[node.name] = methods
    return classes


def public(cls) -> set:
    return {n for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize(
    "stub, runtime",
    [
        ("__init__.pyi", {"Client": vigil.Client, "Feed": vigil.Feed}),
        ("aio.pyi", {"Client": vigil.aio.Client, "Feed": vigil.aio.Feed}),
    ],
)
def test_stubs_name_every_method_and_its_parameters(stub, runtime):
    stubs = stub_classes(stub)
    for name, cls in runtime.items():
        assert set(stubs[name]) - {"__init__", "__enter__", "__exit__", "__aenter__",
                                   "__aexit__", "__iter__", "__next__", "__aiter__",
                                   "__anext__"} == public(cls), name
        for method, params in stubs[name].items():
            attr = getattr(cls, method)
            if method.startswith("__") or isinstance(attr, property) or not callable(attr):
                continue
            try:
                signature = inspect.signature(attr)
            except (TypeError, ValueError):
                continue
            assert [p for p in signature.parameters if p != "self"] == params, (name, method)


def test_the_package_exports_its_replies_and_errors():
    for name in vigil.__all__:
        assert hasattr(vigil, name), name
    assert issubclass(vigil.Unavailable, ConnectionError)
    assert issubclass(vigil.InvalidArgument, ValueError)
    assert (PACKAGE / "py.typed").exists()
