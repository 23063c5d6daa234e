"""RFC 3161 timestamps of signed ledger entries: requesting tokens, keeping them, checking them.

- :mod:`~custody.timestamp.request`: the TimeStampReq (SHA-256 of the exact signed bytes, a
  nonce, certReq) POSTed to the authority over HTTP(S), and its answer checked;
- :mod:`~custody.timestamp.token`: reading a TimeStampResp and checking its token (message
  imprint, the TSA's CMS signature, its certificate chain);
- :mod:`~custody.timestamp.store`: ``timestamps/<seq>.tsr`` in a case or bundle;
- :mod:`~custody.timestamp.stamper`: a ledger hook that requests tokens on a thread;
- :mod:`~custody.timestamp.check`: what ``verify`` checks of every token.
"""
