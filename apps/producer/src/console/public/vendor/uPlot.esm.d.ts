// Types of /console/vendor/uPlot.esm.js, which the producer serves from the installed package.
export { default } from 'uplot';
