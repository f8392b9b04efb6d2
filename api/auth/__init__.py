"""Who may use the API and the dashboard, and what they may do.

Runs in the API process (and in ``pgjobs keys|users``): API keys and users
(:mod:`api.auth.accounts`), what a request proves (:mod:`api.auth.authenticator`),
scopes and roles (:mod:`api.auth.scopes`), browser protections
(:mod:`api.auth.browser`) and abuse limits (:mod:`api.auth.limits`). Every
route declares what it requires (:mod:`api.routing`); a route that declares
nothing cannot be built.
"""
