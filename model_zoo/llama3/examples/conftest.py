# The scripts here are examples run by tests/test_examples.py, not test modules (two of them are named
# after the design document's TestSuite snippets); keep pytest from collecting them.
collect_ignore_glob = ["*.py"]
