package logbook

import (
	"reflect"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// walPages bounds the WAL that dry runs leave behind (CloseLazily): SQLite checkpoints it once it
// holds this many pages (1 MiB; a no-change dry run writes about 10), and every open of the limani
// reads the whole WAL back (its index is rebuilt when no other process has it open).
const walPages = 256

// noCheckpointOnClose sets SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE on a modernc.org/sqlite connection
// (sql.Conn.Raw). The driver has no method for it, so this reads its connection's handle and TLS
// by field name; if they are not there (a newer driver), it does nothing and Close checkpoints as
// before. TestSQLiteCloseLazily fails then, so that the fallback does not go unnoticed.
func noCheckpointOnClose(driverConn any) error {
	v := reflect.ValueOf(driverConn)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	db, tls := v.Elem().FieldByName("db"), v.Elem().FieldByName("tls")
	if db.Kind() != reflect.Uintptr || tls.Kind() != reflect.Pointer || tls.Type().Elem() != reflect.TypeOf(libc.TLS{}) {
		return nil
	}
	t := (*libc.TLS)(unsafe.Pointer(tls.Pointer()))
	// sqlite3_db_config(db, op, int onoff, int *pRes): libc.VaList packs each argument in 8 bytes.
	bp := libc.Xmalloc(t, 16)
	if bp == 0 {
		return nil
	}
	defer libc.Xfree(t, bp)
	sqlite3.Xsqlite3_db_config(t, uintptr(db.Uint()), sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, libc.VaList(bp, int32(1), uintptr(0)))
	return nil
}
