// Advisory file locks (flock) for the hub cache: the same locks huggingface_hub's
// filelock takes on <cache>/.locks/<repo>/<etag>.lock, so a Node and a Python
// process (or two Node processes) never write one blob at once. The kernel drops
// a lock when its process dies: no stale lock files to clean up.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#endif

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/napi_errors.h"

namespace lora::addon {
namespace {

// Descriptors this module opened: unlockFile closes only these, never an fd JS made up.
std::mutex held_mutex;
std::set<int> held;

// tryLockFile(path): an exclusive lock without waiting. Returns its handle (>= 0),
// -1 when another open file holds it, or null where flock does not exist (Windows).
Napi::Value try_lock_file_js(const Napi::CallbackInfo& info) {
  std::string path = path_value(info.Env(), info[0], "tryLockFile's path");
#ifdef _WIN32
  return info.Env().Null();
#else
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw make_error(info.Env(), code::kIo, "Cannot open the lock file " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) return Napi::Number::New(info.Env(), -1);
    throw make_error(info.Env(), code::kIo, "Cannot lock " + path + ": " + std::strerror(error));
  }
  std::lock_guard<std::mutex> guard(held_mutex);
  held.insert(fd);
  return Napi::Number::New(info.Env(), fd);
#endif
}

// unlockFile(handle): releases a lock tryLockFile returned (and closes its file).
Napi::Value unlock_file_js(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber())
    throw make_error(info.Env(), code::kInvalidArgument, "Expected a lock handle (a number from tryLockFile) for unlockFile's first argument");
  int fd = info[0].As<Napi::Number>().Int32Value();
  {
    std::lock_guard<std::mutex> guard(held_mutex);
    if (held.erase(fd) == 0)
      throw make_error(info.Env(), code::kInvalidArgument, "Expected a lock handle that tryLockFile returned and that is still held but received " + std::to_string(fd));
  }
#ifndef _WIN32
  ::flock(fd, LOCK_UN);
  ::close(fd);
#endif
  return info.Env().Undefined();
}

}  // namespace

void register_file_lock(Napi::Env env, Napi::Object exports) {
  exports.Set("tryLockFile", Napi::Function::New(env, try_lock_file_js, "tryLockFile"));
  exports.Set("unlockFile", Napi::Function::New(env, unlock_file_js, "unlockFile"));
}

}  // namespace lora::addon
