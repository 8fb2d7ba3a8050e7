"""The lockfile: what has been generated, so nothing is paid for twice.

Modules, from the records up to the disk; each one's public names are those without a leading
underscore, imported from the module itself (this package re-exports nothing):

* :mod:`~seedflow.lock.model` — records (``LockEntry``, ``LockedImage``), ``State`` and the
  format's constants; pure, and the only lock module the pure core imports.
* :mod:`~seedflow.lock.format` — lockfile text: ``parse_lock``, ``parse_entries`` (partial, for
  ``read_lock(only=...)``), ``lock_text`` (canonical), ``CONFLICT_MARKERS``; pure.
* :mod:`~seedflow.lock.decode` — an entry line decoded fast (msgspec), the reference deciding
  every line it does not take; ``EntryBrief``, what a plan lists of an orphan; pure.
* :mod:`~seedflow.lock.merge` — merge rules (git's merge driver, ``lock merge``); pure.
* :mod:`~seedflow.lock.schema` — the JSON Schema of a lockfile line.
* :mod:`~seedflow.lock.journal` — ``<lock>.journal``: ``journal_path``, replay, ``Journal``.
* :mod:`~seedflow.lock.read` — ``Lock`` and ``read_lock`` (lockfile + journal; read-only), and
  ``Unread``: the entries a streamed read checked but did not keep.
* :mod:`~seedflow.lock.file_lock` — ``file_lock``: one writer per lockfile (``flock``).
* :mod:`~seedflow.lock.writer` — ``LockWriter``: the only code that changes a lockfile.
"""
