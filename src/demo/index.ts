// The demo's public surface: where its real data comes from (npm packages shipped with Cairn).
export { demoData, type DemoData } from './data-sources.js';
