"""The chain engine (`nft-scheduler`): mints reserved purchases into custody, sends transfers,
keeps the TON send log (`ton_messages`) and settles what it sent. `engine.py` is the edge (it
calls the chain between transactions); `handlers.py` are its one-transaction use cases."""
