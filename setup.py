"""The build's one step beyond pyproject.toml: mdrcds.reading._learnt, the reader's learnt-code check
in C++ over simdjson's parsed document (src/mdrcds/reading/_learnt.cpp), compiled with the simdjson
sources that pysimdjson ships (a build requirement, pinned to the runtime release), and the shipped
rules copied into wheels as mdrcds/rules."""

from __future__ import annotations

from pathlib import Path

import simdjson
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

SIMDJSON_SOURCES = str(Path(simdjson.__file__).parent)


class BuildPyWithRules(build_py):
    """Wheels carry the shipped rules inside the package (mdrcds.knowledge.rulebook.default_rules_dir);
    an editable install reads the repository's rules/."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.copy_tree("rules", str(Path(self.build_lib) / "mdrcds" / "rules"))


setup(
    ext_modules=[
        Extension(
            "mdrcds.reading._learnt",
            sources=["src/mdrcds/reading/_learnt.cpp"],
            include_dirs=[SIMDJSON_SOURCES],
            language="c++",
            extra_compile_args=["-std=c++17", "-O2", "-fvisibility=hidden"],
        )
    ],
    cmdclass={"build_py": BuildPyWithRules},
)
