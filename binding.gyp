# A thin shim. The one real build is CMakeLists.txt, driven by cmake-js (npm run build:native,
# scripts/install.mjs). node-gyp based tools (node-gyp rebuild, prebuildify, electron-rebuild)
# run this target instead; its action runs the same cmake-js build through
# scripts/lib/gyp-build.mjs (libtorch found as the install script finds it, compiled in
# build/cmake-js so CMake never overwrites node-gyp's build/Makefile) and copies the result to
# build/Release/lora_node.node (node-gyp's product dir), where the loader looks.
# The output named below is never written, so the action runs on every build; cmake-js
# rebuilds only what changed.
{
  'targets': [
    {
      'target_name': 'lora_node',
      'type': 'none',
      'actions': [
        {
          'action_name': 'cmake_js_build',
          'inputs': ['CMakeLists.txt'],
          'outputs': ['<(INTERMEDIATE_DIR)/cmake-js-always-runs'],
          # Actions run in the package root, where <(PRODUCT_DIR) (relative to build/) does not
          # resolve, so the script writes build/Release/lora_node.node itself.
          'action': ['node', 'scripts/lib/gyp-build.mjs', 'build/Release/lora_node.node'],
        },
      ],
    },
  ],
}
