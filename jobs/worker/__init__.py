"""Running tasks: the worker process (the procrastinate App, middleware, clock, threads).

Only worker processes run this code (``procrastinate --app=jobs.app worker`` or
``pgjobs worker``); the API process builds the same App only to defer jobs on
its own connections. Nothing here imports ``jobs.live`` or ``api``.
"""
