import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // ONNX sessions and gRPC servers are real; give slow CI machines room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only add contention with onnxruntime's threads.
    maxWorkers: 2,
  },
});
