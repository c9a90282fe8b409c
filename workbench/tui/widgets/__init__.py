"""Dumb widgets: they display what a pane hands them and post no domain messages."""
