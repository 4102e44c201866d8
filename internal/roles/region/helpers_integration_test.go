package region_test

import (
	"context"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

func enginetestPlan(tr transport.Transport, c *chobolo.Chobolo) (*engine.HostPlan, error) {
	e := &engine.Engine{Registry: engine.NewRegistry(region.New())}
	return e.Plan(context.Background(), tr, engine.Request{Chobolo: c, Assume: true})
}
