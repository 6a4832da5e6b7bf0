pytest_plugins = ["tests.fakes.fixtures", "tests.simulator_fixtures"]
