// The guest agent channel in the domain XML, independent of the golden
// files: present with vmmap's socket path when asked for, absent otherwise,
// and accepted by libvirt's own parser and schema.
#include <pugixml.hpp>

#include "gtest/gtest.h"
#include "mapper/domain_spec.h"
#include "mapper/domain_xml.h"
#include "tests/mapper/domain_xml_test_support.h"

namespace vmmap {
namespace {

DomainSpec MinimalSpec() {
  return MinimalDomainSpec("vmmap-agent-test", "6f1b1c2e-8f4e-4c55-9d0f-1b2c3d4e5f61");
}

TEST(DomainXmlGuestAgent, NoChannelWithoutASocket) {
  absl::StatusOr<std::string> xml = RenderDomainXml(MinimalSpec());
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  EXPECT_FALSE(doc.child("domain").child("devices").child("channel"));
}

TEST(DomainXmlGuestAgent, UnixChannelBoundToVmmapsSocket) {
  DomainSpec spec = MinimalSpec();
  spec.guest_agent_socket = "/var/lib/vmmap/agent/0123456789abcdef.sock";
  absl::StatusOr<std::string> xml = RenderDomainXml(spec);
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  pugi::xml_node channel = doc.child("domain").child("devices").child("channel");
  ASSERT_TRUE(channel);
  EXPECT_STREQ(channel.attribute("type").value(), "unix");
  EXPECT_STREQ(channel.child("source").attribute("mode").value(), "bind");
  EXPECT_STREQ(channel.child("source").attribute("path").value(),
               "/var/lib/vmmap/agent/0123456789abcdef.sock");
  EXPECT_STREQ(channel.child("target").attribute("type").value(), "virtio");
  EXPECT_STREQ(channel.child("target").attribute("name").value(), "org.qemu.guest_agent.0");

  absl::StatusOr<std::string> back = DefineValidatedAndReadBack(*xml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << *xml;
  EXPECT_NE(back->find("org.qemu.guest_agent.0"), std::string::npos) << *back;
}

}  // namespace
}  // namespace vmmap
