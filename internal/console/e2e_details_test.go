package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/moat-dev/moat/internal/controlplane/api"
)

// A new user's details, in a real browser: the browser's Back closes a dialog and stays on the page
// (and a dialog closed otherwise leaves no history entry behind); every time is shown with its zone
// (the browser's, here India's UTC+05:30, a half-hour offset) and is the right time; the void
// 127.0.0.1 is struck through once a security group is bound; and at 420 px wide the breadcrumb, a
// long instance name included, stays on the screen.
func TestConsoleBackZoneAndNarrowScreen(t *testing.T) {
	m := startMoat(t)
	p := newPage(t, chromedp.Env("TZ=Asia/Kolkata"))
	p.do("open moat", chromedp.Navigate(m.base+"/"), chromedp.WaitVisible(css("#password")))
	p.do("log in", chromedp.SendKeys(css("#password"), m.password), chromedp.Submit(css("#password")), chromedp.WaitVisible(css("#instances")))
	whitelist := `#/i/` + m.inst + `/whitelist`
	p.do("open the whitelist", chromedp.Click(css(`#instances a[href="`+whitelist+`"]`)), chromedp.WaitVisible(css(`#groups tr[data-group="default"]`)))

	// Back closes a dialog and the page stays; the focus returns to the button that opened it.
	back := chromedp.Evaluate[chromedp.Void](`history.back()`)
	p.do("open Add Whitelist", chromedp.Click(css("#add-whitelist")), chromedp.WaitVisible(css("#group-name")))
	p.do("Back", back, chromedp.WaitNotPresent(css("#group-dialog")))
	p.check("still on the whitelist", fmt.Sprintf(`location.hash === %q && !!document.querySelector('#groups') ? '' : 'now at ' + location.hash`, whitelist))
	p.waitFor("focus back on Add Whitelist", `document.activeElement && document.activeElement.id === 'add-whitelist'`)
	p.do("open Modify", chromedp.Click(css(`#groups tr[data-group="default"] button[data-action="modify"]`)), chromedp.WaitVisible(css("#group-ips")))
	p.do("Back closes Modify", back, chromedp.WaitNotPresent(css("#group-dialog")))
	p.do("open Modify again", chromedp.Click(css(`#groups tr[data-group="default"] button[data-action="modify"]`)), chromedp.WaitVisible(css("#group-ips")))
	p.do("Escape closes it", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(css("#group-dialog")))
	// No dialog left an entry behind: Back now goes to the page before, the instance list.
	p.do("Back to the instances", back, chromedp.WaitVisible(css("#instances")))
	p.check("at the instance list", `location.hash === '#/instances' && !document.querySelector('dialog') ? '' : 'now at ' + location.hash`)

	// Times with their zone: a refusal and a change, each shown in the browser's zone, and right.
	expectRefused(t, m.listen, "127.0.0.7")
	sg := m.call(api.VersionECS, "CreateSecurityGroup", map[string]string{"SecurityGroupName": "empty"})["SecurityGroupId"].(string)
	m.call(api.VersionKVStore, "ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": m.inst, "SecurityGroupId": sg})
	p.do("open the activity", chromedp.Navigate(m.base+"/console/#/i/"+m.inst+"/activity"), chromedp.WaitVisible(css("#audit tbody tr")))
	p.waitText("the refusal listed", "#refusals", "127.0.0.7")
	ist := time.FixedZone("UTC+05:30", 5*3600+30*60)
	for _, sel := range []string{"#refusals tbody tr td:nth-child(4)", "#refusals tbody tr td:nth-child(5)", "#audit tbody tr td:first-child"} {
		shown := strings.TrimSpace(p.text(sel))
		clock, ok := strings.CutSuffix(shown, " UTC+05:30")
		at, err := time.ParseInLocation("2006-01-02 15:04:05", clock, ist)
		if !ok || err != nil {
			t.Errorf("%s shows %q, want YYYY-MM-DD hh:mm:ss UTC+05:30: %v", sel, shown, err)
		} else if d := time.Since(at); d < -time.Minute || d > 5*time.Minute {
			t.Errorf("%s shows %q: %v from now", sel, shown, d)
		}
	}
	p.waitText("the chart's busiest minute with its zone", "#chart-summary", "UTC+05:30)")
	p.check("the bars' times with their zone", `(() => { const t = [...document.querySelectorAll('#refusal-chart rect title')].map((e) => e.textContent);
		return t.length > 0 && t.every((s) => / UTC\+05:30: \d+ refused$/.test(s)) ? '' : 'bar titles ' + JSON.stringify(t.slice(-2)); })()`)
	p.shot("zone-activity")

	// The bound (empty) security group voids 127.0.0.1, and the whitelist strikes it through.
	p.do("back to the whitelist", chromedp.Navigate(m.base+"/console/"+whitelist), chromedp.WaitVisible(css(`#groups tr[data-group="default"]`)))
	p.waitFor("127.0.0.1 struck through", `(() => { const li = document.querySelector('#groups tr[data-group="default"] ul.entries li');
		return !!li && li.textContent === '127.0.0.1' && li.classList.contains('void') && getComputedStyle(li).textDecorationLine.includes('line-through'); })()`)

	// 420 px wide, an instance with a long name: the top bar and every breadcrumb item stay on the screen.
	m.call(api.VersionKVStore, "CreateInstance", map[string]string{"InstanceId": "r-narrowscreen01", "InstanceName": "orders-cache-production-eu-west-1-primary"})
	p.do("a 420 px screen", chromedp.EmulateViewport(420, 900))
	for _, pg := range []string{"whitelist", "security-groups", "check", "activity"} {
		p.do("open "+pg, chromedp.Navigate(m.base+"/console/#/i/r-narrowscreen01/"+pg), chromedp.Reload(), chromedp.WaitVisible(css("#main h1")))
		// (The Whitelist Settings pages name the instance in the breadcrumb; the others give its ID.)
		p.waitText("the breadcrumb names the instance", "#crumbs", "r-narrowscreen01")
		if pg == "whitelist" {
			p.waitText("with its long name", "#crumbs", "orders-cache-production-eu-west-1-primary (r-narrowscreen01)")
		}
		p.check("nothing of the top bar off the screen at 420 px on "+pg, `(() => {
			const w = document.documentElement.clientWidth, bad = [];
			if (w !== 420) bad.push('viewport ' + w);
			const top = document.querySelector('header.top');
			if (top.scrollWidth > top.clientWidth) bad.push('top bar scrolls: ' + top.scrollWidth + ' > ' + top.clientWidth);
			for (const e of [top, ...top.querySelectorAll('#crumbs li, .brand, .who > *')]) {
				const r = e.getBoundingClientRect();
				if (r.left < 0 || r.right > w + 0.5) bad.push('"' + e.textContent.trim().slice(0, 40) + '" spans ' + Math.round(r.left) + '..' + Math.round(r.right));
			}
			const ol = document.getElementById('crumbs');
			if (ol.scrollWidth > ol.clientWidth) bad.push('breadcrumb scrolls: ' + ol.scrollWidth + ' > ' + ol.clientWidth);
			return bad.join('; ');
		})()`)
	}
	p.do("the whitelist again", chromedp.Navigate(m.base+"/console/#/i/r-narrowscreen01/whitelist"), chromedp.Reload(), chromedp.WaitVisible(css("#groups")))
	p.shot("narrow-420-whitelist")

	p.mu.Lock()
	defer p.mu.Unlock()
	for _, msg := range p.problems {
		t.Errorf("page error: %s", msg)
	}
}
