"""The operator console served at ``/ui``: a static client of the admin API.

``session.py`` owns the login session (a signed cookie plus a CSRF token, pure
functions); ``static/`` holds the page, its script, its style sheet and the
vendored Chart.js build, shipped in the wheel as package data. The routes that
serve them live in :mod:`gwd.handlers.console`. See docs/console.md.
"""
