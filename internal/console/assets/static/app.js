// moat console: the entry module the console page loads (<script type="module">). Plain JavaScript
// in native ES modules under js/, no framework, no build step. Every read and change is a call to
// moat's control-plane API (js/api.js: the same actions the SDK and the CLI use) through
// /console/api, which checks the session and the CSRF token and hands the call to the API as the
// logged-in caller. Text from the API is always put in the page with textContent or text nodes,
// never parsed as HTML.
//
// The modules, each owning one page or concern:
//   js/main.js            the routes: which page each address shows
//   js/frame.js           breadcrumb, side navigation, title, rendering and refreshing the page
//   js/api.js             the API calls and the shapes of their answers
//   js/dom.js             small DOM helpers (h, append, clear, fmtTime: times with their zone)
//   js/toast.js           notifications
//   js/dialog.js          modal dialogs and the Delete confirmation
//   js/forms.js           an API error placed next to the field it concerns
//   js/fuzzy.js           the pickers' fuzzy search
//   js/instances.js       Instances (the instance picker)
//   js/whitelist.js       Whitelist Settings: the IP whitelist tab, Modify and Delete
//   js/entries.js         whitelist entries and groups as the API gives them
//   js/groupdialog.js     Add Whitelist and Modify
//   js/hostpicker.js      Import host internal IP addresses
//   js/securitygroups.js  Whitelist Settings: the Security Groups tab
//   js/check.js           Access check
//   js/activity.js        Activity: refused connections and the audit log
//   js/chart.js           the chart of refusals per minute
import { start } from './js/main.js';

start();
