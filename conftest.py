# Case files under cases/ are collected as tests by the suite's own pytest plugin.
pytest_plugins = ["equivalence.pytest_plugin"]
