#ifndef torchsegLabelTable_h
#define torchsegLabelTable_h

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief A coded concept (DICOM triplet): code value, coding scheme designator, code meaning. */
struct CodedConcept
{
  std::string value;
  std::string scheme;
  std::string meaning;

  bool
  IsEmpty() const
  {
    return value.empty();
  }
};

/** \brief One class of a label image: its voxel value, name, display colour and terminology. */
struct LabelInfo
{
  unsigned int           value = 0;
  std::string            name;
  std::array<uint8_t, 3> color{ { 128, 128, 128 } };
  CodedConcept           category; // e.g. SCT 123037004 "Anatomical Structure"
  CodedConcept           type;     // e.g. SCT 10200004 "Liver"
};

/** \class LabelTable
 * \brief The classes of a segmentation (background excluded), in label-value order.
 *
 * One place for class names, colours and coded terminology: the model file, the writers of .seg.nrrd and DICOM
 * segmentations, the evaluation tables and the pictures all read them from here.
 * \ingroup TorchSegCommon
 */
class LabelTable
{
public:
  LabelTable() = default;
  explicit LabelTable(std::vector<LabelInfo> labels);

  /** Liver (1) and liver tumour (2), the LiTS convention, with SNOMED CT codes and Slicer-like colours. */
  static LabelTable
  LiverTumour();

  /** Generic table "label 1" ... "label N" with distinct colours. */
  static LabelTable
  Generic(unsigned int numberOfForegroundLabels);

  const std::vector<LabelInfo> &
  GetLabels() const
  {
    return m_Labels;
  }

  /** The entry of a label value, or nullptr. */
  const LabelInfo *
  Find(unsigned int value) const;

  /** The name of a label value: its entry's name, or "label <value>". */
  std::string
  GetName(unsigned int value) const;

  /** The colour of a label value: its entry's colour, or a distinct generic colour. */
  std::array<uint8_t, 3>
  GetColor(unsigned int value) const;

  /** Adds or replaces an entry (kept sorted by value). Value 0 is background and is refused. */
  void
  Set(const LabelInfo & info);

  std::size_t
  size() const
  {
    return m_Labels.size();
  }

  bool
  empty() const
  {
    return m_Labels.empty();
  }

private:
  std::vector<LabelInfo> m_Labels;
};

/** A distinct colour for label value \a value, for labels without a table entry. */
std::array<uint8_t, 3>
GenericLabelColor(unsigned int value);

} // namespace torchseg

#endif
