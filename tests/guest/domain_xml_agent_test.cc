// The guest agent channel in the domain XML, independent of the golden
// files: present with vmmap's socket path when asked for, absent otherwise,
// and accepted by libvirt's own parser and schema.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <pugixml.hpp>

#include "gtest/gtest.h"
#include "mapper/domain_spec.h"
#include "mapper/domain_xml.h"

namespace vmmap {
namespace {

DomainSpec MinimalSpec() {
  DomainSpec spec;
  spec.type = DomainType::kQemu;
  spec.name = "vmmap-agent-test";
  spec.uuid = "6f1b1c2e-8f4e-4c55-9d0f-1b2c3d4e5f61";
  spec.memory_kib = 262144;
  spec.owner = {"default", "web", "uid-1", 0, "0123456789abcdef", ""};
  return spec;
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

  virConnectPtr conn = virConnectOpen("test:///default");
  ASSERT_NE(conn, nullptr);
  virDomainPtr dom = virDomainDefineXMLFlags(conn, xml->c_str(), VIR_DOMAIN_DEFINE_VALIDATE);
  ASSERT_NE(dom, nullptr) << virGetLastErrorMessage() << "\n" << *xml;
  char* back = virDomainGetXMLDesc(dom, 0);
  ASSERT_NE(back, nullptr);
  EXPECT_NE(std::string(back).find("org.qemu.guest_agent.0"), std::string::npos) << back;
  free(back);
  EXPECT_EQ(virDomainUndefine(dom), 0);
  virDomainFree(dom);
  virConnectClose(conn);
}

}  // namespace
}  // namespace vmmap
