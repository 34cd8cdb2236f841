// The demo domain: real public datasets shipped in npm packages, for `cairn demo` and examples.
export { demoData, type DemoData } from './data-sources.js';
