"""The family's tests use the zoo fixtures of tttv2-testing (device name, seed, private tensor cache, slow marker)."""

pytest_plugins = ("tttv2_testing.zoo_fixtures",)
