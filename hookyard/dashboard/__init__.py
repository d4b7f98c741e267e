"""The dashboard: server-rendered pages under /dashboard for the people who run Hookyard.

Its views call the same functions the management API's views call (no second copy of a rule, no HTTP
call to its own API). People are the organization's members with a password and a role.
"""
