// main.js owns the console's routes: which page each address shows. The frame (frame.js) draws the
// breadcrumb and the navigation and renders the page; each page is its own module.
import { start as startFrame } from './frame.js';
import { instancesPage } from './instances.js';
import { whitelistPage } from './whitelist.js';
import { checkPage } from './check.js';
import { activityPage } from './activity.js';

// start shows the page the address names, and follows the address from then on.
export function start() {
  startFrame({
    instances: instancesPage,
    whitelist: whitelistPage,
    'security-groups': whitelistPage,
    check: checkPage,
    activity: activityPage,
  });
}
