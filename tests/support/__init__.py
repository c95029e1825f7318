"""Helpers shared by the test modules: imported as ``tests.support.<name>`` (the project root is
on ``sys.path`` through pytest's ``pythonpath`` setting), never through ``sys.path`` edits.

- :mod:`tests.support.api`: an app with a store, tokens and clinicians for the API tests;
- :mod:`tests.support.export`: a filled store of simulated sessions for the export tests;
- :mod:`tests.support.e2e`: real ``sintonia`` processes on loopback for end-to-end tests;
- :mod:`tests.support.security`: the attack suite's world of credentials and sentinel data;
- :mod:`tests.support.storage_fixtures`: the SQLite/PostgreSQL storage fixtures, a pytest plugin
  registered in ``tests/conftest.py`` for every test folder.
"""
