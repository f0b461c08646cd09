/**
 * Node-only parts of hemnet (file system, built-in datasets, image files).
 * Import from 'hemnet/node'; the main entry 'hemnet' stays browser-safe.
 */
export * from './index.js';
export { loadMnist, MNIST_IMAGE_SIZE, MNIST_PIXELS } from './data/mnist.js';
export type { MnistDigits, MnistSplit } from './data/mnist.js';
