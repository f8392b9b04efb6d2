"""``/dashboard``: server-rendered pages, their view helpers, templates and static files."""
