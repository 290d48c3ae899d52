package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill/backoffice"
)

// exportRoutes serve the back-office CSV exports. ServeMux wildcards match
// whole segments only, so each export has its own ".csv" route.
func (s *Server) exportRoutes() []route {
	var rs []route
	for _, name := range backoffice.Exports {
		rs = append(rs, route{"GET", "/api/v1/exports/" + name + ".csv", true, false, s.exportCSV(name)})
	}
	return rs
}

// exportCSV streams one export. An error before the first byte is an
// ordinary error answer; after it, the connection is cut so the client sees
// a broken download, never a short file that looks complete.
func (s *Server) exportCSV(name string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		cw := &countingWriter{w: w}
		err := backoffice.Export(r.Context(), s.DB, name, cw)
		if err != nil && cw.n > 0 {
			if s.Logger != nil {
				s.Logger.Error("export failed midway", "export", name, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
		return err
	}
}

type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
