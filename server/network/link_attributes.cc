#include "server/network/link_attributes.h"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

namespace vmmap::network {
namespace {

absl::Status Errno(int error, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  return error == ENOENT || error == ENODEV ? absl::NotFoundError(message)
                                            : absl::InternalError(message);
}

std::string FormatMac(const unsigned char* bytes, size_t n) {
  std::string mac;
  char part[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(part, sizeof part, i == 0 ? "%02x" : ":%02x", bytes[i]);
    mac += part;
  }
  return mac;
}

// The attributes of the RTM_NEWLINK answer in `msg`.
void ParseLink(const nlmsghdr* msg, LinkAttributes* out) {
  const auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(msg));
  int left = static_cast<int>(msg->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof *info));
  for (const rtattr* a = IFLA_RTA(info); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    const size_t size = RTA_PAYLOAD(a);
    if (a->rta_type == IFLA_MTU && size >= sizeof(uint32_t)) {
      uint32_t mtu = 0;
      std::memcpy(&mtu, RTA_DATA(a), sizeof mtu);
      out->mtu = static_cast<int>(mtu);
    } else if (a->rta_type == IFLA_ADDRESS) {
      out->mac = FormatMac(static_cast<const unsigned char*>(RTA_DATA(a)), size);
    } else if (a->rta_type == IFLA_STATS64 && size >= sizeof(rtnl_link_stats64)) {
      rtnl_link_stats64 s;
      std::memcpy(&s, RTA_DATA(a), sizeof s);
      out->rx_bytes = s.rx_bytes;
      out->rx_packets = s.rx_packets;
      out->rx_errors = s.rx_errors;
      out->rx_dropped = s.rx_dropped;
      out->tx_bytes = s.tx_bytes;
      out->tx_packets = s.tx_packets;
      out->tx_errors = s.tx_errors;
      out->tx_dropped = s.tx_dropped;
    }
  }
}

// RTM_GETLINK for `ifname` on a netlink socket of the calling thread's
// network namespace.
absl::StatusOr<LinkAttributes> QueryLink(const std::string& ifname) {
  const int sock = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) return Errno(errno, "netlink socket");
  struct {
    nlmsghdr header;
    ifinfomsg info;
    char attributes[RTA_SPACE(IFNAMSIZ)];
  } request;
  std::memset(&request, 0, sizeof request);
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof request.info);
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.header.nlmsg_seq = 1;
  request.info.ifi_family = AF_UNSPEC;
  auto* name = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) +
                                         NLMSG_ALIGN(request.header.nlmsg_len));
  name->rta_type = IFLA_IFNAME;
  name->rta_len = RTA_LENGTH(ifname.size() + 1);
  std::memcpy(RTA_DATA(name), ifname.c_str(), ifname.size() + 1);
  request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_SPACE(ifname.size() + 1);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  absl::StatusOr<LinkAttributes> result =
      absl::InternalError(absl::StrCat("netlink: no answer for link ", ifname));
  if (::sendto(sock, &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    result = Errno(errno, "netlink send");
  } else {
    alignas(nlmsghdr) char buffer[32768];
    ssize_t n;
    do {
      n = ::recv(sock, buffer, sizeof buffer, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) result = Errno(errno, "netlink receive");
    int left = static_cast<int>(n);
    for (auto* msg = reinterpret_cast<nlmsghdr*>(buffer); n > 0 && NLMSG_OK(msg, left);
         msg = NLMSG_NEXT(msg, left)) {
      if (msg->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(msg));
        result = Errno(-error->error, absl::StrCat("link ", ifname));
        break;
      }
      if (msg->nlmsg_type == RTM_NEWLINK) {
        LinkAttributes link;
        ParseLink(msg, &link);
        result = link;
        break;
      }
    }
  }
  ::close(sock);
  return result;
}

}  // namespace

absl::StatusOr<LinkAttributes> ReadLinkAttributes(const std::string& netns_path,
                                                  const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("interface name \"", ifname, "\": must be 1 to ", IFNAMSIZ - 1, " bytes"));
  }
  if (netns_path.empty()) return QueryLink(ifname);
  absl::StatusOr<LinkAttributes> result = absl::InternalError("not run");
  // Joining a namespace changes only the calling thread's: a thread of its
  // own, which ends here, keeps every other thread where it was.
  std::thread([&] {
    const int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = Errno(errno, absl::StrCat("open network namespace ", netns_path));
      return;
    }
    const int joined = ::setns(fd, CLONE_NEWNET);
    const int error = errno;
    ::close(fd);
    if (joined != 0) {
      result = Errno(error, absl::StrCat("join network namespace ", netns_path));
      return;
    }
    result = QueryLink(ifname);
    if (!result.ok()) {
      result = absl::Status(result.status().code(),
                            absl::StrCat(result.status().message(), " in ", netns_path));
    }
  }).join();
  return result;
}

}  // namespace vmmap::network
