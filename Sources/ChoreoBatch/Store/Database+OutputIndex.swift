public import ChoreoSQLite
import ChoreoPostgres
/// The opt-in full-text index over job outputs (SQLite FTS5), for `choreo sql` and Datasette:
///
///     SELECT j.custom_id, snippet(outputs_fts, 0, '[', ']', '…', 8)
///     FROM outputs_fts JOIN jobs j ON j.id = outputs_fts.rowid WHERE outputs_fts MATCH 'phobos'
///
/// An external-content table (`content="jobs"`, spelled as Datasette looks for it: the text is stored once, in `jobs.output`) kept
/// up to date by triggers on the jobs table. Off by default: every write of an output then also
/// writes the index, which a batch of millions of answers need not pay for.
extension Database {
    public var hasOutputIndex: Bool {
        get throws { try queryOne("SELECT 1 FROM sqlite_schema WHERE name = 'outputs_fts'") { _ in true } ?? false }
    }

    /// Creates the index over every output there is, and the triggers that follow later writes.
    public func enableOutputIndex() throws {
        try transaction(.immediate) {
            if try hasOutputIndex { return }
            try execute("""
                CREATE VIRTUAL TABLE outputs_fts USING fts5(output, content="jobs", content_rowid="id");
                CREATE TRIGGER outputs_fts_on_update AFTER UPDATE OF output ON jobs BEGIN
                  INSERT INTO outputs_fts (outputs_fts, rowid, output) SELECT 'delete', OLD.id, OLD.output WHERE OLD.output IS NOT NULL;
                  INSERT INTO outputs_fts (rowid, output) SELECT NEW.id, NEW.output WHERE NEW.output IS NOT NULL;
                END;
                CREATE TRIGGER outputs_fts_on_delete AFTER DELETE ON jobs WHEN OLD.output IS NOT NULL BEGIN
                  INSERT INTO outputs_fts (outputs_fts, rowid, output) VALUES ('delete', OLD.id, OLD.output);
                END;
                INSERT INTO outputs_fts (outputs_fts) VALUES ('rebuild');
                """)
        }
    }

    /// Drops the index and its triggers; outputs are untouched.
    public func disableOutputIndex() throws {
        try transaction(.immediate) {
            try execute("""
                DROP TRIGGER IF EXISTS outputs_fts_on_update;
                DROP TRIGGER IF EXISTS outputs_fts_on_delete;
                DROP TABLE IF EXISTS outputs_fts;
                """)
        }
    }
}

extension SQLiteBatchStore {
    public func setOutputIndex(_ on: Bool) throws -> String {
        if on { try database.enableOutputIndex() } else { try database.disableOutputIndex() }
        try database.checkpoint()
        return on ? "on (table outputs_fts: WHERE outputs_fts MATCH 'words')" : "off"
    }
}

/// On PostgreSQL the index is a GIN index over the outputs' `tsvector` (the `simple`
/// configuration: words as written, no stemming, as FTS5's default tokenizer), which the server
/// keeps up to date itself; a query that spells the same expression uses it.
extension PostgresBatchStore {
    static let outputWords = "to_tsvector('simple', coalesce(output, ''))"

    public func setOutputIndex(_ on: Bool) throws -> String {
        if on {
            try db.run("CREATE INDEX IF NOT EXISTS outputs_fts ON jobs USING gin (\(Self.outputWords))")
            return "on (index outputs_fts: WHERE \(Self.outputWords) @@ plainto_tsquery('simple', 'words'))"
        }
        try db.run("DROP INDEX IF EXISTS outputs_fts")
        return "off"
    }
}
