// Command chart draws bench/goodput.svg and .png from bench/results.json:
// one panel per scenario, one bar per tool, the median goodput in Mbit/s.
//
// It is its own module so gonum.org/v1/plot and its fonts stay out of
// qxfer's go.mod; benchrun runs it with `go run .` in this directory.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// results is the part of results.json the chart needs.
type results struct {
	Scenarios []struct {
		ID      string `json:"id"`
		Title   string `json:"title"`
		Link    string `json:"link"`
		Results []struct {
			Label  string `json:"label"`
			Tool   string `json:"tool"`
			Runs   []any  `json:"runs"`
			Median struct {
				Goodput float64 `json:"goodput_mbps"`
				Bounded bool    `json:"bounded"`
			} `json:"median"`
		} `json:"results"`
	} `json:"scenarios"`
}

var toolColor = map[string]color.Color{
	"qxfer":    color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"scp":      color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"rsync":    color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	"quicperf": color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

func main() {
	in := flag.String("in", "../results.json", "results.json written by benchrun")
	out := flag.String("out", "../goodput", "output path without extension; .svg and .png are written")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return err
	}
	var plots []*plot.Plot
	for _, s := range res.Scenarios {
		p := plot.New()
		p.Title.Text = s.ID + ": " + s.Title + "\n" + s.Link
		p.Y.Label.Text = "goodput, Mbit/s (median)"
		p.Y.Min = 0
		p.Y.Tick.Marker = plainTicks{}
		var names []string
		n := 0
		top := 0.0
		for _, r := range s.Results {
			if len(r.Runs) == 0 {
				continue
			}
			bar, err := plotter.NewBarChart(plotter.Values{r.Median.Goodput}, vg.Points(22))
			if err != nil {
				return err
			}
			bar.Color = toolColor[r.Tool]
			if bar.Color == nil {
				bar.Color = color.Black
			}
			bar.LineStyle.Width = 0
			bar.XMin = float64(n)
			top = max(top, r.Median.Goodput)
			p.Add(bar)
			lbl := fmt.Sprintf("%.1f", r.Median.Goodput)
			if r.Median.Bounded {
				lbl += "†"
			}
			labels, err := plotter.NewLabels(plotter.XYLabels{
				XYs:    []plotter.XY{{X: float64(n), Y: r.Median.Goodput}},
				Labels: []string{lbl},
			})
			if err != nil {
				return err
			}
			labels.Offset = vg.Point{X: -vg.Points(8), Y: vg.Points(3)}
			p.Add(labels)
			names = append(names, shortLabel(r.Label))
			n++
		}
		if n == 0 {
			continue
		}
		p.NominalX(names...)
		p.X.Tick.Label.Rotation = 0.5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
		if top > 0 {
			p.Y.Max = top * 1.18
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return fmt.Errorf("no scenario with results in %s", in)
	}
	const cols = 2
	rows := (len(plots) + cols - 1) / cols
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	width, height := 26*vg.Centimeter, vg.Length(rows)*10*vg.Centimeter
	for _, kind := range []string{"svg", "png"} {
		var c draw.Canvas
		var save func(*os.File) error
		switch kind {
		case "svg":
			sc := vgsvg.New(width, height)
			c = draw.New(sc)
			save = func(f *os.File) error { _, err := sc.WriteTo(f); return err }
		case "png":
			ic := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
			c = draw.New(ic)
			save = func(f *os.File) error { _, err := vgimg.PngCanvas{Canvas: ic}.WriteTo(f); return err }
		}
		c.SetColor(color.White)
		c.Fill(c.Rectangle.Path())
		canvases := plot.Align(grid, tiles, c)
		for i := range grid {
			for j := range grid[i] {
				if grid[i][j] != nil {
					grid[i][j].Draw(canvases[i][j])
				}
			}
		}
		f, err := os.Create(out + "." + kind)
		if err != nil {
			return err
		}
		if err := save(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// plainTicks are gonum's default ticks labelled without trailing zeros
// ("2500", not "2500.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

func shortLabel(s string) string {
	s = strings.Replace(s, "--connections ", "-c ", 1)
	s = strings.Replace(s, "quic-go ceiling", "quic-go (ceiling)", 1)
	return s
}
