package harness

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var palette = []color.Color{
	color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}, // blue
	color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff}, // orange
	color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff}, // green
	color.RGBA{R: 0xc4, G: 0x4e, B: 0x52, A: 0xff}, // red
	color.RGBA{R: 0x81, G: 0x72, B: 0xb3, A: 0xff}, // purple
	color.RGBA{R: 0x93, G: 0x78, B: 0x60, A: 0xff}, // brown
}

// WriteChart draws a grouped bar chart of the ratio to direct Redis, one group per main test and one bar
// per measured target other than direct, with a line at 1.0 and moat's goal for each test marked, and
// saves it to path (the extension picks the format: .png, .svg, .pdf).
func WriteChart(path, title string, sum *Summary) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "ops/s ratio to direct redis-server (same run, medians)"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	var bars []Target
	for _, t := range sum.Targets {
		if t.Skip == "" && t.Name != DirectTarget && sum.Cells[t.Name] != nil {
			bars = append(bars, t)
		}
	}
	if len(bars) == 0 {
		return fmt.Errorf("chart: no target besides %s was measured", DirectTarget)
	}
	width := vg.Points(60 / float64(len(bars)))
	if width > 18 {
		width = 18
	}
	yMax := 1.1
	for i, t := range bars {
		vals := make(plotter.Values, len(sum.Tests))
		for j, test := range sum.Tests {
			if c := sum.Cells[t.Name][test]; c != nil && !math.IsNaN(c.Ratio) {
				vals[j] = c.Ratio
				yMax = math.Max(yMax, c.Ratio*1.08)
			}
		}
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bc.LineStyle.Width = vg.Length(0)
		bc.Color = palette[i%len(palette)]
		bc.Offset = vg.Length(float64(i)-float64(len(bars)-1)/2) * width
		p.Add(bc)
		p.Legend.Add(label(t), bc)
		// The ratio above each bar.
		var pts plotter.XYs
		var labels []string
		for j, v := range vals {
			if v > 0 {
				pts = append(pts, plotter.XY{X: float64(j), Y: v})
				labels = append(labels, fmt.Sprintf("%.2f", v))
			}
		}
		if len(pts) > 0 {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
			if err != nil {
				return err
			}
			for k := range l.TextStyle {
				l.TextStyle[k].XAlign = draw.XCenter
				l.TextStyle[k].Font.Size = vg.Points(7)
			}
			l.Offset = vg.Point{X: bc.Offset, Y: vg.Points(2)}
			p.Add(l)
		}
	}
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.LineStyle.Color = color.Gray{Y: 0x60}
	one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	// moat's goal for each test: a short black segment across the group.
	var goalLegend bool
	for j, test := range sum.Tests {
		g := GoalFor(test)
		if math.IsNaN(g) {
			continue
		}
		seg, err := plotter.NewLine(plotter.XYs{{X: float64(j) - 0.42, Y: g}, {X: float64(j) + 0.42, Y: g}})
		if err != nil {
			return err
		}
		seg.LineStyle.Width = vg.Points(1.5)
		seg.LineStyle.Color = color.Black
		p.Add(seg)
		if !goalLegend {
			p.Legend.Add("moat goal (issue 7)", seg)
			goalLegend = true
		}
	}
	p.NominalX(sum.Tests...)
	p.X.Min, p.X.Max = -0.6, float64(len(sum.Tests))-0.4
	// Room above the tallest bar for the legend (one line per entry).
	p.Y.Max = yMax + 0.07*float64(len(bars)+1) + 0.05
	p.Y.Tick.Marker = ratioTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(6)
	p.Legend.Padding = vg.Points(3)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	return p.Save(9*vg.Inch, 5*vg.Inch, path)
}

// ratioTicks labels the ratio axis every 0.25 (every 0.5 above 2), with unlabelled ticks between.
type ratioTicks struct{}

func (ratioTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 0.25
	if hi > 2 {
		step = 0.5
	}
	var ts []plot.Tick
	for i := 0; i < 200; i++ {
		v := math.Ceil(lo/(step/2))*(step/2) + float64(i)*step/2
		if v > hi+1e-9 {
			break
		}
		t := plot.Tick{Value: v}
		if math.Abs(math.Remainder(v, step)) < 1e-9 {
			t.Label = fmt.Sprintf("%.2f", v)
		}
		ts = append(ts, t)
	}
	return ts
}
