// safetensors reader and writer; the format and its validation rules follow
// https://github.com/huggingface/safetensors (safetensors/src/tensor.rs).
#include "core/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/text_format.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; big-endian hosts are not supported"
#endif

namespace lora {

namespace {

using json = nlohmann::json;

// Same bound as the Rust library (MAX_HEADER_SIZE): a header is never this big.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  size_t size;
};

// The dtypes libtorch 1.13 can hold; U16/U32/U64/F8 have no at::ScalarType there.
constexpr DtypeInfo kDtypes[] = {
    {"F32", at::kFloat, 4},  {"F16", at::kHalf, 2},  {"BF16", at::kBFloat16, 2},
    {"I64", at::kLong, 8},   {"I32", at::kInt, 4},   {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},  {"I8", at::kChar, 1},   {"I16", at::kShort, 2},
    {"F64", at::kDouble, 8},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& info : kDtypes)
    if (name == info.name) return &info;
  return nullptr;
}

const DtypeInfo* find_dtype(at::ScalarType type) {
  for (const auto& info : kDtypes)
    if (type == info.type) return &info;
  return nullptr;
}

std::string json_quoted(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }
std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void header_error(const std::string& label, const std::string& message) {
  fail(code::kSafetensorsHeader, label + ": " + message);
}

[[noreturn]] void tensor_error(const std::string& label, const std::string& name, const std::string& message) {
  fail(code::kSafetensorsHeader, label + ": tensor " + json_quoted(name) + ": " + message);
}

// A short rendering of a JSON value for error messages.
std::string json_excerpt(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// Reads a non-negative JSON integer. Floats (2.0 included), negatives and
// non-numbers return false.
bool read_unsigned(const json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

SafetensorsEntry parse_entry(const std::string& label, const std::string& name, const json& info,
                             uint64_t data_size) {
  if (!info.is_object()) tensor_error(label, name, "entry must be an object but is " + json_excerpt(info));
  SafetensorsEntry entry;
  entry.name = name;

  auto dtype_it = info.find("dtype");
  if (dtype_it == info.end() || !dtype_it->is_string()) tensor_error(label, name, "\"dtype\" must be a string");
  entry.dtype = dtype_it->get<std::string>();
  const DtypeInfo* dtype = find_dtype(entry.dtype);
  if (!dtype) tensor_error(label, name, "unknown dtype " + json_quoted(entry.dtype));

  auto shape_it = info.find("shape");
  if (shape_it == info.end() || !shape_it->is_array())
    tensor_error(label, name, "\"shape\" must be an array of non-negative integers");
  uint64_t elements = 1;
  bool overflow = false;
  for (const json& dim : *shape_it) {
    uint64_t d = 0;
    if (!read_unsigned(dim, &d) || d > static_cast<uint64_t>(INT64_MAX))
      tensor_error(label, name,
                   "\"shape\" must be an array of non-negative integers but is " + json_excerpt(*shape_it));
    entry.shape.push_back(static_cast<int64_t>(d));
    overflow = overflow || __builtin_mul_overflow(elements, d, &elements);
  }

  auto offsets_it = info.find("data_offsets");
  if (offsets_it == info.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !read_unsigned((*offsets_it)[0], &entry.begin) || !read_unsigned((*offsets_it)[1], &entry.end))
    tensor_error(label, name,
                 "\"data_offsets\" must be [begin, end] with non-negative integers but is " +
                     (offsets_it == info.end() ? std::string("missing") : json_excerpt(*offsets_it)));
  const std::string offsets_text = "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.begin > entry.end) tensor_error(label, name, offsets_text + " end before they begin");

  uint64_t needed = 0;
  overflow = overflow || __builtin_mul_overflow(elements, static_cast<uint64_t>(dtype->size), &needed);
  const uint64_t held = entry.end - entry.begin;
  if (overflow || needed != held)
    tensor_error(label, name,
                 offsets_text + " hold " + std::to_string(held) + " bytes but dtype " + entry.dtype + " with shape " +
                     shape_text(entry.shape) + " needs " + (overflow ? std::string("more than 2^64") : std::to_string(needed)));
  if (entry.end > data_size)
    tensor_error(label, name,
                 offsets_text + " run past the end of the data section (" + std::to_string(data_size) +
                     " bytes); the file is truncated or its offsets are wrong");
  return entry;
}

// Opens the file for reading and returns its descriptor; ERR_IO on failure.
int open_for_reading(const std::string& path, uint64_t* size) {
  int fd;
  do {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail(code::kIo, path + ": cannot open safetensors file: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(code::kIo, path + ": cannot stat safetensors file: " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(code::kIo, path + ": not a regular file");
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

// Maps the whole file read-only. When mmap is unavailable (some network or
// special file systems), reads it once into an anonymous mapping instead, so
// the destructor always has a mapping to munmap.
const uint8_t* map_file(int fd, const std::string& path, uint64_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map != MAP_FAILED) return static_cast<const uint8_t*>(map);

  map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) fail(code::kIo, path + ": cannot map or allocate " + std::to_string(size) + " bytes: " + errno_text(errno));
  auto* bytes = static_cast<uint8_t*>(map);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, bytes + done, static_cast<size_t>(std::min<uint64_t>(size - done, 1u << 30)),
                        static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : 0;
      ::munmap(map, size);
      fail(code::kIo, path + ": cannot read safetensors file: " +
                          (err ? errno_text(err) : "file shrank while being read"));
    }
    done += static_cast<uint64_t>(n);
  }
  ::mprotect(map, size, PROT_READ);
  return bytes;
}

// --- writing ---

// Writes all of [data, data+size) to fd, retrying short writes and EINTR.
void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, bytes, std::min<size_t>(size, 1u << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(code::kIo, path + ": cannot write safetensors file: " + errno_text(errno));
    bytes += n;
    size -= static_cast<size_t>(n);
  }
}

std::string temp_path_for(const std::string& path) {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
  std::ostringstream out;
  out << path << ".tmp-" << ::getpid() << '-' << std::hex << rng();
  return out.str();
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Best effort: makes the rename itself durable. Failing here is not an error
// (the data is already fsynced), matching what most atomic writers do.
void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  const DtypeInfo* info = find_dtype(dtype);
  if (!info) fail(code::kSafetensorsHeader, "unknown dtype " + json_quoted(dtype));
  return info->size;
}

std::vector<SafetensorsEntry> parse_safetensors_header(const std::string& file_label, const std::string& json_text,
                                                       uint64_t data_size,
                                                       std::map<std::string, std::string>* metadata) {
  json header;
  try {
    header = json::parse(json_text);
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at ..."; keep the readable part.
    std::string what = e.what();
    size_t bracket = what.find("] ");
    header_error(file_label, "header is not valid JSON (" + (bracket == std::string::npos ? what : what.substr(bracket + 2)) + ")");
  }
  if (!header.is_object()) header_error(file_label, "header must be a JSON object but is " + json_excerpt(header));

  std::map<std::string, std::string> meta;
  std::vector<SafetensorsEntry> entries;
  entries.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      const json& value = it.value();
      if (value.is_null()) continue;  // the Rust library reads it as Option<HashMap>
      if (!value.is_object()) header_error(file_label, "\"__metadata__\" must be an object of strings but is " + json_excerpt(value));
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string())
          header_error(file_label, "\"__metadata__\" value " + json_quoted(m.key()) + " must be a string but is " +
                                       json_excerpt(m.value()));
        meta[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(file_label, it.key(), it.value(), data_size));
  }

  // No two tensors may share bytes. Empty tensors occupy no bytes.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const SafetensorsEntry& prev = *by_offset[i - 1];
    const SafetensorsEntry& cur = *by_offset[i];
    if (cur.begin < prev.end)
      tensor_error(file_label, cur.name,
                   "data_offsets [" + std::to_string(cur.begin) + ", " + std::to_string(cur.end) + "] overlap tensor " +
                       json_quoted(prev.name) + " at [" + std::to_string(prev.begin) + ", " + std::to_string(prev.end) + "]");
  }

  if (metadata) *metadata = std::move(meta);
  return entries;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;

  uint64_t size = 0;
  int fd = open_for_reading(path, &size);
  if (size < 8) {
    ::close(fd);
    header_error(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  }
  try {
    file->map_ = map_file(fd, path, size);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  file->size_ = size;

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file->map_[i];
  if (header_len > size - 8)
    header_error(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                           std::to_string(size) + " bytes)");
  if (header_len > kMaxHeaderBytes)
    header_error(path, "header length " + std::to_string(header_len) + " exceeds the maximum of " +
                           std::to_string(kMaxHeaderBytes) + " bytes");
  file->data_start_ = 8 + header_len;

  std::string text(reinterpret_cast<const char*>(file->map_ + 8), static_cast<size_t>(header_len));
  file->entries_ = parse_safetensors_header(path, text, size - file->data_start_, &file->metadata_);
  for (size_t i = 0; i < file->entries_.size(); ++i) file->index_[file->entries_[i].name] = i;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    fail(code::kMissingTensor, path_ + ": no tensor named " + json_quoted(name) + " (the file holds " +
                                   std::to_string(entries_.size()) + " tensors)");
  return entries_[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const DtypeInfo* dtype = find_dtype(e.dtype);  // validated in open()
  at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(dtype->type).device(at::kCPU));
  const uint64_t bytes = e.end - e.begin;
  if (bytes > 0) std::memcpy(out.data_ptr(), map_ + data_start_ + e.begin, static_cast<size_t>(bytes));
  return out;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Validate everything before touching the disk.
  std::vector<const std::pair<std::string, at::Tensor>*> sorted;
  sorted.reserve(tensors.size());
  for (const auto& item : tensors) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });

  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& name = sorted[i]->first;
    const at::Tensor& t = sorted[i]->second;
    const std::string where = path + ": tensor " + json_quoted(name) + ": ";
    if (i > 0 && sorted[i - 1]->first == name) fail(code::kInvalidArgument, where + "duplicate tensor name");
    if (name == "__metadata__") fail(code::kInvalidArgument, where + "\"__metadata__\" is reserved and cannot name a tensor");
    if (!t.defined()) fail(code::kInvalidArgument, where + "tensor is undefined");
    if (t.layout() != at::kStrided) fail(code::kInvalidArgument, where + "only dense (strided) tensors can be saved");
    const DtypeInfo* dtype = find_dtype(t.scalar_type());
    if (!dtype)
      fail(code::kInvalidArgument, where + "dtype " + std::string(c10::toString(t.scalar_type())) +
                                       " has no safetensors equivalent here");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype->size;
    header[name] = {{"dtype", dtype->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const json::type_error&) {
    fail(code::kInvalidArgument, path + ": tensor names and metadata must be valid UTF-8");
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as in the Rust library
  if (header_text.size() > kMaxHeaderBytes)
    fail(code::kInvalidArgument, path + ": header of " + std::to_string(header_text.size()) + " bytes exceeds the maximum of " +
                                     std::to_string(kMaxHeaderBytes));

  // The rename below would replace a device, FIFO or socket at `path` (a folder makes it fail).
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) && !S_ISLNK(existing.st_mode) &&
      !S_ISDIR(existing.st_mode))
    fail(code::kIo, path + ": exists and is not a regular file; not replacing it");

  const std::string temp = temp_path_for(path);
  int fd;
  do {
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail(code::kIo, path + ": cannot create temporary file " + temp + ": " + errno_text(errno));

  try {
    uint8_t length[8];
    uint64_t n = header_text.size();
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(n >> (8 * i));
    write_all(fd, length, 8, path);
    write_all(fd, header_text.data(), header_text.size(), path);
    // One tensor at a time, so a CUDA state dict never needs a full CPU copy.
    for (const auto* item : sorted) {
      at::Tensor cpu = item->second.detach().cpu().contiguous();
      if (cpu.numel() > 0) write_all(fd, cpu.data_ptr(), cpu.nbytes(), path);
    }
    if (::fsync(fd) != 0) fail(code::kIo, path + ": cannot fsync safetensors file: " + errno_text(errno));
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail(code::kIo, path + ": cannot close safetensors file: " + errno_text(errno));
    if (::rename(temp.c_str(), path.c_str()) != 0)
      fail(code::kIo, path + ": cannot rename " + temp + " over it: " + errno_text(errno));
  } catch (const Error& e) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    if (e.code() == std::string(code::kIo)) throw;
    fail(code::kIo, path + ": write failed: " + e.what());
  } catch (const c10::Error& e) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    fail(code::kIo, path + ": write failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    fail(code::kIo, path + ": write failed: " + e.what());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    fail(code::kIo, path + ": write failed");
  }
  fsync_dir(parent_dir(path));
}

}  // namespace lora
