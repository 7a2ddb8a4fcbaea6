"""Tests of scripts/package's template and artifact checks (no build): the real template.yaml
names buildable functions, and every kind of mismatch between a template and its zips is caught.

Run: .venv/bin/python -m unittest discover -s scripts -p 'test_*.py' (./scripts/test does).
"""

import copy
import importlib.machinery
import importlib.util
import json
import subprocess
import tempfile
import unittest
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_package_script():
    loader = importlib.machinery.SourceFileLoader("package_script", str(REPO / "scripts" / "package"))
    spec = importlib.util.spec_from_loader("package_script", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


package = load_package_script()

TEMPLATE = {
    "Globals": {
        "Function": {"Runtime": "provided.al2023", "Architectures": ["arm64"], "Handler": "bootstrap"}
    },
    "Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table"},
        "HelloFunction": {
            "Type": "AWS::Serverless::Function",
            "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "hello"}},
            "Properties": {"CodeUri": "."},
        },
    },
}


def elf_header(machine):
    """The first 20 bytes of a little-endian 64-bit ELF executable for `machine`."""
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00" + machine.to_bytes(2, "little")


def write_zip(path, name="bootstrap", content=None, mode=0o755):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o100000 | mode) << 16
        archive.writestr(info, content if content is not None else elf_header(183) + b"\x00" * 100)


class TemplateChecks(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.repo = Path(self.dir.name)
        (self.repo / "Cargo.toml").write_text("[workspace]\n")

    def tearDown(self):
        self.dir.cleanup()

    def problems(self, template, bins=("hello",)):
        return package.check_template(package.template_functions(template), set(bins), self.repo)

    def test_a_consistent_template_has_no_problems(self):
        self.assertEqual(self.problems(TEMPLATE), [])

    def test_globals_are_applied_and_overridden_per_function(self):
        (function,) = package.template_functions(TEMPLATE)
        self.assertEqual(function.runtime, "provided.al2023")
        template = copy.deepcopy(TEMPLATE)
        template["Resources"]["HelloFunction"]["Properties"]["Architectures"] = ["x86_64"]
        (problem,) = self.problems(template)
        self.assertIn("HelloFunction: Architectures", problem)

    def test_each_mismatch_is_reported(self):
        cases = [
            (("Metadata", "BuildMethod"), "makefile", "BuildMethod"),
            (("Metadata", "BuildProperties", "Binary"), "goodbye", "not a binary of the workspace"),
            (("Properties", "Handler"), "main", "Handler"),
            (("Properties", "Runtime"), "provided.al2", "Runtime"),
            (("Properties", "CodeUri"), "functions/hello", "CodeUri"),
        ]
        for path, value, expected in cases:
            with self.subTest(path=path):
                template = copy.deepcopy(TEMPLATE)
                node = template["Resources"]["HelloFunction"]
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = value
                problems = self.problems(template)
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(expected, problems[0])

    def test_a_missing_binary_name_is_reported(self):
        template = copy.deepcopy(TEMPLATE)
        del template["Resources"]["HelloFunction"]["Metadata"]["BuildProperties"]
        (problem,) = self.problems(template)
        self.assertIn("Binary is missing", problem)

    def test_the_repositorys_template_names_workspace_binaries(self):
        template = package.load_template(REPO / "template.yaml")
        functions = package.template_functions(template)
        self.assertGreaterEqual(len(functions), 10)
        metadata = json.loads(
            subprocess.run(
                ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
                cwd=REPO, check=True, capture_output=True, text=True,
            ).stdout
        )
        self.assertEqual(package.check_template(functions, package.workspace_bins(metadata), REPO), [])


class ArtifactChecks(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.lambda_dir = Path(self.dir.name) / "lambda"
        (self.function,) = package.template_functions(TEMPLATE)
        self.zip = self.lambda_dir / "hello" / "bootstrap.zip"

    def tearDown(self):
        self.dir.cleanup()

    def check(self, arch=package.ARM64):
        return package.check_artifact(self.function, self.lambda_dir, arch)

    def test_a_good_zip_passes_and_is_measured(self):
        write_zip(self.zip)
        artifact = self.check()
        self.assertEqual(artifact.problems, [])
        self.assertEqual(artifact.zip_bytes, self.zip.stat().st_size)
        self.assertEqual(artifact.bootstrap_bytes, 120)

    def test_each_bad_artifact_is_reported(self):
        cases = [
            (None, "no zip"),
            (dict(name="main"), "holds no 'bootstrap'"),
            (dict(mode=0o644), "not executable"),
            (dict(content=b"#!/bin/sh\n"), "not an ELF executable"),
            (dict(content=elf_header(62)), "not arm64"),
        ]
        for zip_args, expected in cases:
            with self.subTest(expected=expected):
                if self.zip.exists():
                    self.zip.unlink()
                if zip_args is not None:
                    write_zip(self.zip, **zip_args)
                problems = self.check().problems
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(expected, problems[0])

    def test_the_architecture_built_is_the_one_checked(self):
        write_zip(self.zip, content=elf_header(62))
        self.assertEqual(self.check(package.X86_64).problems, [])

    def test_a_file_that_is_not_a_zip_is_reported(self):
        self.zip.parent.mkdir(parents=True)
        self.zip.write_bytes(b"not a zip")
        (problem,) = self.check().problems
        self.assertIn("not a zip file", problem)


if __name__ == "__main__":
    unittest.main()
