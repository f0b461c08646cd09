export { lineChart, barChart, niceTicks, formatTick, escapeXml, SERIES_COLORS } from './svg.js';
export type { LineSeries, LineChartOptions, BarSeries, BarChartOptions, ChartFrame } from './svg.js';
export { createRgbaImage, viridis, colorizeMask, imageToRgba, overlayMask, tileImages, heatmapGrid } from './image.js';
export type { RgbaImage, Rgb, MaskColorOptions, HeatmapGridOptions } from './image.js';
