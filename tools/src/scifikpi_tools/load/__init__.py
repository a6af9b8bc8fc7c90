"""Stepped load test of the whole stack with the frontend's users (`make load`).

`python -m scifikpi_tools.load` (see `__main__`): locust users that sign up and pay, mine,
accelerate, read, buy, bind a wallet and transfer, through the gateway only; steps of users;
a capacity report under `.local/load/<timestamp>/`. The pure parts (figures, capacity,
saturation, report) import neither locust nor gevent, so tests and other tools can use them
without gevent's monkey-patching; `users` and `runner` import locust.
"""
