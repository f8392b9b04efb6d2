"""The "after" code of docs/migrating-from-celery.md: each file is included there verbatim
and run by tests/integration/docs/test_migration_guide.py."""
