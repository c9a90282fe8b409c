"""The four panes (models, build, dataset, leaderboard) and the modal screens."""
