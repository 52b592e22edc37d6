#pragma once
/// @file
/// The versioned binary checkpoint format of recdiff models: named metadata strings and named tensors,
/// protected by a checksum, written to a temporary file and renamed into place so that a crash never
/// leaves a half-written model behind.
///
/// Layout (little-endian):
///   magic "RECDIFF\n" (8 bytes) | format version u32 | payload size u64 | payload | FNV-1a-64 of payload
/// The payload is a sequence of records: kind u8 (1 = text, 2 = float32 tensor, 3 = float64 tensor),
/// name length u32, name bytes, then for text: length u32 + bytes; for tensors: rows u64, cols u64 and
/// rows * cols values in row-major order.

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/error.hpp>
#include <recdiff/io/atomic_file.hpp>

namespace recdiff {

namespace detail {
inline constexpr char checkpoint_magic[8] = {'R', 'E', 'C', 'D', 'I', 'F', 'F', '\n'};
inline constexpr std::uint32_t checkpoint_version = 1;

inline std::uint64_t fnv1a64(const char* data, std::size_t size) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

template <class T>
void append_pod(std::string& out, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

static_assert(std::endian::native == std::endian::little,
              "recdiff checkpoints are little-endian; big-endian hosts are not supported");
}  // namespace detail

/// A tensor read from a checkpoint: shape and row-major values.
template <class T>
struct CheckpointTensor {
  std::uint64_t rows = 0;  ///< number of rows
  std::uint64_t cols = 0;  ///< number of columns
  std::vector<T> values;   ///< rows * cols values, row-major
};

/// Collects metadata and tensors, then writes them atomically with write().
class CheckpointWriter {
 public:
  /// Adds a text entry (e.g. a configuration value). Names must be unique within a checkpoint.
  void add_text(const std::string& name, const std::string& value) {
    header(1, name);
    detail::append_pod(m_payload, static_cast<std::uint32_t>(value.size()));
    m_payload += value;
  }

  /// Adds a rows x cols row-major tensor of float or double values.
  template <class T>
  void add_tensor(const std::string& name, std::uint64_t rows, std::uint64_t cols, const T* data) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
    header(std::is_same_v<T, float> ? 2 : 3, name);
    detail::append_pod(m_payload, rows);
    detail::append_pod(m_payload, cols);
    // An empty tensor (a stateless sampler's state) may come with data == nullptr.
    if (rows * cols > 0) m_payload.append(reinterpret_cast<const char*>(data), rows * cols * sizeof(T));
  }

  /// Writes the checkpoint to `path` with write_file_atomically(): first to a temporary file in the
  /// same folder, then renamed over `path`, so readers see either the old file or the complete new
  /// one. Throws IoError on failure (and removes the temporary file).
  void write(const std::filesystem::path& path) const {
    write_file_atomically(path, [this](std::ostream& out) {
      std::string head(detail::checkpoint_magic, 8);
      detail::append_pod(head, detail::checkpoint_version);
      detail::append_pod(head, static_cast<std::uint64_t>(m_payload.size()));
      std::string tail;
      detail::append_pod(tail, detail::fnv1a64(m_payload.data(), m_payload.size()));
      out.write(head.data(), static_cast<std::streamsize>(head.size()));
      out.write(m_payload.data(), static_cast<std::streamsize>(m_payload.size()));
      out.write(tail.data(), static_cast<std::streamsize>(tail.size()));
    });
  }

 private:
  void header(std::uint8_t kind, const std::string& name) {
    if (!m_names.emplace(name, kind).second)
      throw std::invalid_argument("recdiff::CheckpointWriter: duplicate entry '" + name + "'");
    detail::append_pod(m_payload, kind);
    detail::append_pod(m_payload, static_cast<std::uint32_t>(name.size()));
    m_payload += name;
  }

  std::string m_payload;
  std::map<std::string, std::uint8_t> m_names;
};

/// Reads and validates a whole checkpoint. Any defect (missing file, wrong magic, unknown version,
/// truncation, checksum mismatch, malformed record) raises IoError naming the file and byte offset;
/// asking for an entry that is absent or has another shape raises IoError too.
class CheckpointReader {
 public:
  /// Reads and validates the whole checkpoint at `path`.
  /// @throws IoError on a missing file or any defect of its content
  explicit CheckpointReader(const std::filesystem::path& path) : m_path(path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path, "cannot open checkpoint (missing file?)");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    constexpr std::size_t head = 8 + 4 + 8;
    if (bytes.size() < head) throw IoError::at_offset(path, bytes.size(), "truncated header");
    if (std::memcmp(bytes.data(), detail::checkpoint_magic, 8) != 0)
      throw IoError::at_offset(path, 0, "not a recdiff checkpoint (bad magic)");
    const auto version = read_pod<std::uint32_t>(bytes, 8);
    if (version != detail::checkpoint_version)
      throw IoError::at_offset(path, 8, "unsupported checkpoint version " + std::to_string(version) +
                                            " (this build reads version " +
                                            std::to_string(detail::checkpoint_version) + ")");
    const auto size = read_pod<std::uint64_t>(bytes, 12);
    if (bytes.size() != head + size + 8)
      throw IoError::at_offset(path, bytes.size(),
                               "truncated or padded file: expected " +
                                   std::to_string(head + size + 8) + " bytes, found " +
                                   std::to_string(bytes.size()));
    const auto stored = read_pod<std::uint64_t>(bytes, head + size);
    if (stored != detail::fnv1a64(bytes.data() + head, size))
      throw IoError::at_offset(path, head + size, "checksum mismatch: the file is corrupt");
    parse(bytes, head, head + size);
  }

  /// The file this checkpoint was read from (for messages about its content).
  const std::filesystem::path& path() const noexcept { return m_path; }

  /// Whether the checkpoint has an entry (text or tensor) called `name`.
  bool has(const std::string& name) const { return m_entries.count(name) != 0; }

  /// The text entry `name`.
  std::string text(const std::string& name) const {
    const Entry& e = find(name, 1);
    return m_bytes.substr(e.data, e.size);
  }

  /// The tensor `name`, which must have the given shape and element type.
  template <class T>
  std::vector<T> tensor(const std::string& name, std::uint64_t rows, std::uint64_t cols) const {
    const Entry& e = find(name, std::is_same_v<T, float> ? 2 : 3);
    if (e.rows != rows || e.cols != cols)
      throw IoError(m_path, "tensor '" + name + "' has shape " + std::to_string(e.rows) + "x" +
                                std::to_string(e.cols) + ", the model expects " +
                                std::to_string(rows) + "x" + std::to_string(cols));
    std::vector<T> out(rows * cols);
    if (!out.empty()) std::memcpy(out.data(), m_bytes.data() + e.data, out.size() * sizeof(T));
    return out;
  }

  /// Shape of tensor `name` (rows, cols).
  std::pair<std::uint64_t, std::uint64_t> shape(const std::string& name) const {
    const auto it = m_entries.find(name);
    if (it == m_entries.end() || it->second.kind == 1)
      throw IoError(m_path, "no tensor named '" + name + "'");
    return {it->second.rows, it->second.cols};
  }

 private:
  struct Entry {
    std::uint8_t kind;
    std::size_t data;
    std::size_t size;
    std::uint64_t rows = 0;
    std::uint64_t cols = 0;
  };

  template <class T>
  static T read_pod(const std::string& bytes, std::size_t at) {
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof(T));
    return v;
  }

  void parse(std::string& bytes, std::size_t pos, std::size_t end) {
    auto need = [&](std::size_t n) {
      if (end - pos < n) throw IoError::at_offset(m_path, pos, "malformed record (runs past the end)");
    };
    while (pos < end) {
      need(5);
      const auto kind = read_pod<std::uint8_t>(bytes, pos);
      const auto name_len = read_pod<std::uint32_t>(bytes, pos + 1);
      const std::size_t at = pos;
      pos += 5;
      need(name_len);
      std::string name = bytes.substr(pos, name_len);
      pos += name_len;
      Entry e{kind, 0, 0};
      if (kind == 1) {
        need(4);
        e.size = read_pod<std::uint32_t>(bytes, pos);
        pos += 4;
      } else if (kind == 2 || kind == 3) {
        need(16);
        e.rows = read_pod<std::uint64_t>(bytes, pos);
        e.cols = read_pod<std::uint64_t>(bytes, pos + 8);
        pos += 16;
        const std::size_t width = kind == 2 ? sizeof(float) : sizeof(double);
        if (e.cols != 0 && e.rows > (end - pos) / width / e.cols)
          throw IoError::at_offset(m_path, at, "tensor '" + name + "' runs past the end");
        e.size = e.rows * e.cols * width;
      } else {
        throw IoError::at_offset(m_path, at, "unknown record kind " + std::to_string(kind));
      }
      need(e.size);
      e.data = pos;
      pos += e.size;
      if (!m_entries.emplace(std::move(name), e).second)
        throw IoError::at_offset(m_path, at, "duplicate entry");
    }
    m_bytes = std::move(bytes);
  }

  const Entry& find(const std::string& name, std::uint8_t kind) const {
    const auto it = m_entries.find(name);
    if (it == m_entries.end()) throw IoError(m_path, "missing entry '" + name + "'");
    if (it->second.kind != kind)
      throw IoError(m_path, "entry '" + name + "' has the wrong type");
    return it->second;
  }

  std::filesystem::path m_path;
  std::string m_bytes;
  std::map<std::string, Entry> m_entries;
};

}  // namespace recdiff
