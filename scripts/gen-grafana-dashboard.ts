/**
 * Writes deploy/grafana/dashboards/conveyor.json from scripts/lib/grafana-dashboard.ts:
 * `node --import tsx scripts/gen-grafana-dashboard.ts`. A test fails when the file is edited by
 * hand or not regenerated.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DASHBOARD_FILE, conveyorDashboard, dashboardJson } from './lib/grafana-dashboard.js';

await mkdir(dirname(DASHBOARD_FILE), { recursive: true });
await writeFile(DASHBOARD_FILE, await dashboardJson(conveyorDashboard()));
